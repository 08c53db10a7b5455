package securepg

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/securepg/securepg/internal/core"
	pgdsn "github.com/securepg/securepg/internal/dsn"
)

// DSN is a connection string built from its parts, so that no credential
// is ever pasted into a format string (fmt.Sprintf("postgres://%s:%s@...")
// breaks on the first password holding '@', ':', '/', '?', '#', '%', a
// quote, a backslash or a space, and may then send part of the password to
// DNS as a host name). URL and KeywordValue escape every value as both
// pgx's and lib/pq's parsers read it, and check the result by reading it
// back with securepg's copies of both drivers' tokenisers before returning
// it.
//
// A field left empty (or Port left 0) is not written, so the driver's
// default applies (the PG* variable, then the built-in default), except
// SSLMode: an empty SSLMode is written as verify-full.
//
// String, GoString, Format (every fmt verb: %v, %+v, %#v, %s, %q, ...)
// and LogValue never show Password or the value of a secret parameter
// (sslpassword, any key naming a password, PEM key material): they show
// xxxxx. What bypasses a type's methods sees the fields as they are: fmt's
// %p of a DSN value, fmt printing a DSN held in an unexported field of
// another struct, encoding/json and other reflection-based encoders. Do
// not marshal a DSN or keep one in a struct that gets printed.
//
// A DSN names one host. A multi-host DSN (a primary and its standbys)
// needs a host list and a port list that the two drivers read
// differently in URLs; write it by hand in keyword/value form.
type DSN struct {
	// Host is a host name (ASCII letters, digits, '.', '-' and '_'; an
	// internationalised name in its punycode form), an IPv4 or IPv6
	// address (without brackets; an IPv6 zone as in fe80::1%eth0), or the
	// absolute path of a unix-socket directory. Empty: PGHOST, then the
	// driver's default (pgx: a unix socket; lib/pq: localhost).
	Host string
	// Port is the TCP port, 1 to 65535; 0 leaves it to PGPORT, then 5432.
	Port int
	// Database is dbname; empty: PGDATABASE, then the user name.
	Database string
	// User is the role; empty: PGUSER, then the operating system's user.
	User string
	// Password is the role's password; empty: PGPASSWORD, the password
	// file, SECUREPG_PASSWORD_FILE or a credential provider.
	Password string
	// SSLMode is disable, allow, prefer, require, verify-ca or
	// verify-full. Empty means verify-full (libpq and pgx default to
	// prefer, lib/pq to require).
	SSLMode string
	// RootCert is sslrootcert: the path of the CA bundle that verifies
	// the server, or "system" for the system's roots (which requires
	// verify-full).
	RootCert string
	// ClientCert and ClientKey are sslcert and sslkey, the paths of the
	// client certificate and its key for mutual TLS: both or neither.
	ClientCert, ClientKey string
	// Params are further settings: application_name, connect_timeout,
	// target_session_attrs, run-time parameters such as search_path, ...
	// A key is made of ASCII letters, digits, '_' and '.', does not start
	// with a digit, and is not one of the settings the fields above write
	// (host, port, dbname, database, user, password, sslmode, ssl,
	// requiressl, sslrootcert, sslcert, sslkey), in any case, nor one that
	// takes the connection elsewhere than the fields say (service,
	// servicefile, hostaddr, passfile, sslinline). A value is not empty:
	// leave the key out instead.
	Params map[string]string
}

// URL renders d as a postgres:// URL that pgx and lib/pq read alike:
// user, password, database and every query value percent-encoded (spaces
// as %20, never '+', which pgx would keep), an IPv6 host in brackets when
// a port is given. An IPv6 address without a port, and a unix-socket
// directory, go in the query (host=...), where both drivers read them.
//
// It returns an error, naming the field but never showing its value, for
// what cannot be rendered safely: an invalid field (see DSN), a NUL byte
// or invalid UTF-8 anywhere, a value that securepg would refuse at
// sql.Open because it looks like another setting (user "host=x", a value
// holding "password="), and a Database holding '@', which securepg reads
// in a URL as a misplaced password (KeywordValue renders it).
func (d DSN) URL() (string, error) {
	want, err := d.settings()
	if err != nil {
		return "", err
	}
	if strings.Contains(d.Database, "@") {
		return "", errors.New("securepg: DSN.Database holds '@', which securepg reads in a URL as part of a misplaced password; use KeywordValue")
	}
	var b strings.Builder
	b.WriteString("postgres://")
	if d.User != "" || d.Password != "" {
		b.WriteString(percentEncode(d.User, ""))
		if d.Password != "" {
			b.WriteByte(':')
			b.WriteString(percentEncode(d.Password, ""))
		}
		b.WriteByte('@')
	}
	port := ""
	if d.Port != 0 {
		port = strconv.Itoa(d.Port)
	}
	var query []dsnSetting
	switch kind := hostKindOf(d.Host); {
	case kind == hostName || kind == hostIPv4:
		b.WriteString(d.Host)
		if port != "" {
			b.WriteString(":" + port)
		}
	case kind == hostIPv6 && port != "":
		// lib/pq reads the authority with net/url, which keeps the
		// brackets of an IPv6 address that has no port (hence the query
		// below) and takes no percent-encoding in an address but a
		// zone's %25.
		b.WriteString("[" + strings.Replace(d.Host, "%", "%25", 1) + "]:" + port)
	case kind == hostNone:
		if port != "" {
			b.WriteString(":" + port)
		}
	default: // IPv6 without a port, unix-socket directory
		query = append(query, dsnSetting{"host", d.Host})
		if port != "" {
			query = append(query, dsnSetting{"port", port})
		}
	}
	if d.Database != "" {
		b.WriteString("/" + percentEncode(d.Database, ""))
	}
	for _, s := range d.written() {
		switch s.key {
		case "host", "port", "dbname", "user", "password":
		default:
			query = append(query, s)
		}
	}
	for i, s := range query {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(s.key + "=" + percentEncode(s.value, "/"))
	}
	return checkRendered(b.String(), "URL", want)
}

// KeywordValue renders d as a keyword/value DSN (host=... dbname=...)
// that pgx and lib/pq read alike: a value made only of ASCII letters,
// digits and . _ - / : ~ is written as it is; any other value is quoted
// with single quotes, a quote or backslash in it escaped with a
// backslash, as libpq specifies. It returns an error for what cannot be
// rendered safely, as URL does (a Database holding '@' is fine here).
func (d DSN) KeywordValue() (string, error) {
	want, err := d.settings()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, s := range d.written() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.key + "=" + quoteValue(s.value))
	}
	return checkRendered(b.String(), "keyword/value DSN", want)
}

// String is the URL with the password and every secret parameter
// replaced by xxxxx (the keyword/value form when only that renders), or
// a note naming what is invalid. It never shows the password.
func (d DSN) String() string {
	r := d.redacted()
	if _, err := d.URL(); err == nil {
		if s, err := r.URL(); err == nil {
			return s
		}
	}
	_, err := d.KeywordValue()
	if err == nil {
		var s string
		if s, err = r.KeywordValue(); err == nil {
			return s
		}
	}
	return "securepg.DSN(invalid: " + strings.TrimPrefix(err.Error(), "securepg: ") + ")"
}

// GoString renders d as a Go literal (what %#v prints) with the password
// and every secret parameter replaced by xxxxx.
func (d DSN) GoString() string {
	r := d.redacted()
	var b strings.Builder
	b.WriteString("securepg.DSN{Host:" + strconv.Quote(r.Host) + ", Port:" + strconv.Itoa(r.Port) +
		", Database:" + strconv.Quote(r.Database) + ", User:" + strconv.Quote(r.User) +
		", Password:" + strconv.Quote(r.Password) + ", SSLMode:" + strconv.Quote(r.SSLMode) +
		", RootCert:" + strconv.Quote(r.RootCert) + ", ClientCert:" + strconv.Quote(r.ClientCert) +
		", ClientKey:" + strconv.Quote(r.ClientKey) + ", Params:")
	if r.Params == nil {
		b.WriteString("map[string]string(nil)}")
		return b.String()
	}
	b.WriteString("map[string]string{")
	for i, k := range slices.Sorted(maps.Keys(r.Params)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(k) + ":" + strconv.Quote(r.Params[k]))
	}
	b.WriteString("}}")
	return b.String()
}

// Format makes every fmt verb print the redacted forms: %#v is GoString,
// %v, %+v, %s, %q, %x and %X format String (width and flags apply), and
// any other verb prints String as fmt reports a wrong verb. Without it,
// %d would print the struct's fields, the password among them.
func (d DSN) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, d.GoString())
	case strings.ContainsRune("vsqxX", verb):
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), d.String())
	default:
		_, _ = fmt.Fprintf(f, "%%!%c(securepg.DSN=%s)", verb, d.String())
	}
}

// LogValue implements slog.LogValuer: a group of the settings written,
// the password and secret parameters as xxxxx, an invalid DSN as a note.
func (d DSN) LogValue() slog.Value {
	if _, err := d.KeywordValue(); err != nil {
		return slog.StringValue(d.String())
	}
	r := d.redacted()
	var attrs []slog.Attr
	for _, s := range r.written() {
		if s.key == "port" {
			attrs = append(attrs, slog.Int(s.key, r.Port))
			continue
		}
		attrs = append(attrs, slog.String(s.key, s.value))
	}
	return slog.GroupValue(attrs...)
}

var (
	_ fmt.Stringer   = DSN{}
	_ fmt.GoStringer = DSN{}
	_ fmt.Formatter  = DSN{}
	_ slog.LogValuer = DSN{}
)

// redactedText replaces a secret in String, GoString and LogValue.
const redactedText = "xxxxx"

// redacted is d with the password, the secret parameters and any PEM key
// material (lib/pq's sslinline puts the key itself in sslkey) replaced.
func (d DSN) redacted() DSN {
	r := d
	hide := func(v string) string {
		if v != "" {
			return redactedText
		}
		return v
	}
	r.Password = hide(d.Password)
	for _, p := range []*string{&r.RootCert, &r.ClientCert, &r.ClientKey} {
		if pgdsn.HasKeyMaterial(*p) {
			*p = redactedText
		}
	}
	if d.Params != nil {
		r.Params = make(map[string]string, len(d.Params))
		for k, v := range d.Params {
			if secretParam(k, v) {
				v = hide(v)
			}
			r.Params[k] = v
		}
	}
	return r
}

// secretParam reports a parameter whose value must not be shown.
func secretParam(k, v string) bool {
	return pgdsn.IsSecretKey(strings.ToLower(k)) || strings.Contains(strings.ToLower(k), "pass") || pgdsn.HasKeyMaterial(v)
}

type dsnSetting struct{ key, value string }

// written is d's settings in the order both forms write them, with the
// libpq key names: host, port, dbname, user, password, sslmode,
// sslrootcert, sslcert, sslkey, then Params by key. d must be valid.
func (d DSN) written() []dsnSetting {
	var out []dsnSetting
	add := func(k, v string) {
		if v != "" {
			out = append(out, dsnSetting{k, v})
		}
	}
	add("host", d.Host)
	if d.Port != 0 {
		add("port", strconv.Itoa(d.Port))
	}
	add("dbname", d.Database)
	add("user", d.User)
	add("password", d.Password)
	add("sslmode", d.sslMode())
	add("sslrootcert", d.RootCert)
	add("sslcert", d.ClientCert)
	add("sslkey", d.ClientKey)
	for _, k := range slices.Sorted(maps.Keys(d.Params)) {
		add(k, d.Params[k])
	}
	return out
}

func (d DSN) sslMode() string {
	if d.SSLMode == "" {
		return "verify-full"
	}
	return d.SSLMode
}

// fieldKeys are the settings DSN's fields write (and their aliases),
// which Params may not repeat: the drivers would each pick one of two
// values by their own rules.
var fieldKeys = map[string]bool{
	"host": true, "port": true, "dbname": true, "database": true, "user": true, "password": true,
	"sslmode": true, "ssl": true, "requiressl": true, "sslrootcert": true, "sslcert": true, "sslkey": true,
}

// redirectKeys are settings that Params may not carry, each with why: they
// would take the connection, or what it sends, elsewhere than the fields
// say, by rules that differ between the drivers.
var redirectKeys = map[string]string{
	"service":     "reads a service file, whose settings lib/pq lets override the DSN's host and sslmode",
	"servicefile": "names a service file, whose settings lib/pq lets override the DSN's host and sslmode",
	"hostaddr":    "is the address dialed instead of Host's (lib/pq then verifies the certificate against localhost)",
	"passfile":    "reads a password file the fields do not name",
	"sslinline":   "makes lib/pq read RootCert, ClientCert and ClientKey as PEM text instead of paths",
}

// percentEncode encodes every byte of s except RFC 3986's unreserved
// characters and those in keep, as %XX. Both pgx (libpq's URI decoder)
// and net/url (lib/pq) decode that form in every part of a URL, and
// neither can then mistake a byte of a value for a delimiter.
func percentEncode(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// quoteValue writes v bare when both drivers read it bare, else quoted.
func quoteValue(v string) string {
	bare := v != ""
	for i := 0; i < len(v) && bare; i++ {
		c := v[i]
		bare = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/:~", c) >= 0
	}
	if bare {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// checkRendered reads s back as pgx and lib/pq tokenise it (the readers
// that securepg's redaction uses, held to the drivers' parsers by
// differential fuzz tests) and returns it only when both read exactly
// the settings d holds, and securepg's sql.Open would not refuse it.
func checkRendered(s, form string, want map[string]string) (string, error) {
	if len(s) > core.MaxDSNSize {
		return "", errors.New("securepg: DSN: the " + form + " is longer than the " + strconv.Itoa(core.MaxDSNSize) + " bytes securepg accepts")
	}
	for _, drv := range []string{pgdsn.Pgx, pgdsn.PQ} {
		r := pgdsn.Read(drv, s)
		if r.Err == nil {
			if trap := pgdsn.Trap(r); trap != "" {
				return "", errors.New("securepg: DSN: in the " + form + ", the value of " + core.SafeText(trap) +
					" looks like another setting or a misplaced password, and securepg refuses such a DSN")
			}
		}
		if r.Err != nil || !maps.Equal(r.Settings, want) {
			name := "pgx"
			if drv == pgdsn.PQ {
				name = "lib/pq"
			}
			return "", errors.New("securepg: DSN: the " + form + " would not read back as built under " + name + "'s parser")
		}
	}
	return s, nil
}
