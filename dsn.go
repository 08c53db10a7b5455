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
// is pasted into a format string (a password holding '@', ':', '/', '?',
// '#', '%', a quote or a space breaks such a DSN, and may send part of the
// password to DNS as a host name). URL and KeywordValue escape every value
// as both pgx and lib/pq read it, and check the result by reading it back
// with securepg's copies of both drivers' tokenisers.
//
// A field left empty (Port 0) is not written, so the driver's default
// applies (the PG* variable, then the built-in default); an empty SSLMode
// is written as verify-full.
//
// String, GoString, Format (every fmt verb) and LogValue show Password and
// secret parameters (sslpassword, any key naming a password, PEM key
// material) as xxxxx. What bypasses a type's methods (fmt's %p, a DSN in
// an unexported field of a printed struct, encoding/json) sees the fields
// as they are: do not marshal a DSN or keep one in a printed struct.
//
// A DSN names one host; write a multi-host DSN by hand in keyword/value
// form (the drivers read host and port lists in URLs differently).
type DSN struct {
	// Host is a host name (ASCII letters, digits, '.', '-', '_'; punycode
	// for an internationalised name), an IP address without brackets (an
	// IPv6 zone as in fe80::1%eth0), or the absolute path of a unix-socket
	// directory. Empty: PGHOST, then the driver's default.
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
	// verify-full; empty means verify-full.
	SSLMode string
	// RootCert is sslrootcert: the CA bundle's path, or "system" (which
	// requires verify-full).
	RootCert string
	// ClientCert and ClientKey are sslcert and sslkey, for mutual TLS:
	// both or neither.
	ClientCert, ClientKey string
	// Params are further settings (application_name, search_path, ...). A
	// key is ASCII letters, digits, '_' and '.', not starting with a
	// digit, and neither a setting the fields write (host, port, dbname,
	// database, user, password, sslmode, ssl, requiressl, sslrootcert,
	// sslcert, sslkey) nor one that redirects the connection (service,
	// servicefile, hostaddr, passfile, sslinline), in any case. A value is
	// not empty: leave the key out instead.
	Params map[string]string
}

// URL renders d as a postgres:// URL that pgx and lib/pq read alike, every
// value percent-encoded (spaces as %20, never '+'); an IPv6 address
// without a port, or a unix-socket directory, goes in the query (host=).
// It returns an error naming the field, never its value, for what cannot
// be rendered safely: an invalid field, a NUL byte or invalid UTF-8, a
// value securepg would refuse at sql.Open as looking like another setting
// (user "host=x"), or a Database holding '@' (use KeywordValue).
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
	case kind == hostName || kind == hostIPv4 || kind == hostNone:
		b.WriteString(d.Host)
		if port != "" {
			b.WriteString(":" + port)
		}
	case kind == hostIPv6 && port != "":
		// net/url (lib/pq) keeps the brackets of a portless IPv6 address
		// (hence the query below), and decodes only a zone's %25.
		b.WriteString("[" + strings.Replace(d.Host, "%", "%25", 1) + "]:" + port)
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
	sep := "?"
	for _, s := range query {
		b.WriteString(sep + s.key + "=" + percentEncode(s.value, "/"))
		sep = "&"
	}
	return checkRendered(b.String(), "URL", want)
}

// KeywordValue renders d as a keyword/value DSN (host=... dbname=...)
// that pgx and lib/pq read alike, quoting (as libpq specifies) any value
// not made only of ASCII letters, digits and . _ - / : ~. Its errors are
// URL's, except that a Database holding '@' is fine.
func (d DSN) KeywordValue() (string, error) {
	want, err := d.settings()
	if err != nil {
		return "", err
	}
	var parts []string
	for _, s := range d.written() {
		parts = append(parts, s.key+"="+quoteValue(s.value))
	}
	return checkRendered(strings.Join(parts, " "), "keyword/value DSN", want)
}

// String is the URL (else the keyword/value form) with the password and
// secret parameters as xxxxx, or a note naming what is invalid.
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
	params := "map[string]string(nil)"
	if r.Params != nil {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			kv = append(kv, strconv.Quote(k)+":"+strconv.Quote(r.Params[k]))
		}
		params = "map[string]string{" + strings.Join(kv, ", ") + "}"
	}
	return fmt.Sprintf("securepg.DSN{Host:%q, Port:%d, Database:%q, User:%q, Password:%q, SSLMode:%q, RootCert:%q, ClientCert:%q, ClientKey:%q, Params:%s}",
		r.Host, r.Port, r.Database, r.User, r.Password, r.SSLMode, r.RootCert, r.ClientCert, r.ClientKey, params)
}

// Format makes every fmt verb print the redacted forms: %#v is GoString,
// %v, %+v, %s, %q, %x and %X format String, and any other verb prints
// String as fmt reports a wrong verb (not the fields, as %d would).
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
		a := slog.String(s.key, s.value)
		if s.key == "port" {
			a = slog.Int(s.key, r.Port)
		}
		attrs = append(attrs, a)
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

// redacted is d with the password, secret parameters and PEM key material
// (lib/pq's sslinline puts the key itself in sslkey) replaced.
func (d DSN) redacted() DSN {
	r := d
	if d.Password != "" {
		r.Password = redactedText
	}
	for _, p := range []*string{&r.RootCert, &r.ClientCert, &r.ClientKey} {
		if pgdsn.HasKeyMaterial(*p) {
			*p = redactedText
		}
	}
	if d.Params != nil {
		r.Params = make(map[string]string, len(d.Params))
		for k, v := range d.Params {
			lk := strings.ToLower(k)
			if v != "" && (pgdsn.IsSecretKey(lk) || strings.Contains(lk, "pass") || pgdsn.HasKeyMaterial(v)) {
				v = redactedText
			}
			r.Params[k] = v
		}
	}
	return r
}

type dsnSetting struct{ key, value string }

// written is d's settings, with libpq's key names, in the order both forms
// write them (the fields, then Params by key). d must be valid.
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

// fieldKeys are the settings DSN's fields write, with aliases: Params may
// not repeat them (each driver would pick one value by its own rules).
var fieldKeys = map[string]bool{
	"host": true, "port": true, "dbname": true, "database": true, "user": true, "password": true,
	"sslmode": true, "ssl": true, "requiressl": true, "sslrootcert": true, "sslcert": true, "sslkey": true,
}

// redirectKeys are settings Params may not carry, each with why: they take
// the connection elsewhere than the fields say, differently per driver.
var redirectKeys = map[string]string{
	"service":     "reads a service file, whose settings lib/pq lets override the DSN's host and sslmode",
	"servicefile": "names a service file, whose settings lib/pq lets override the DSN's host and sslmode",
	"hostaddr":    "is the address dialed instead of Host's (lib/pq then verifies the certificate against localhost)",
	"passfile":    "reads a password file the fields do not name",
	"sslinline":   "makes lib/pq read RootCert, ClientCert and ClientKey as PEM text instead of paths",
}

// percentEncode encodes as %XX every byte of s but RFC 3986's unreserved
// characters and those in keep: pgx and net/url (lib/pq) decode that in
// every part of a URL, and neither mistakes a value's byte for a delimiter.
func percentEncode(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	keep += "-._~"
	for i := 0; i < len(s); i++ {
		if c := s[i]; plainChars(s[i:i+1], keep) {
			b.WriteByte(c)
		} else {
			b.Write([]byte{'%', hex[c>>4], hex[c&15]})
		}
	}
	return b.String()
}

// quoteValue writes v bare when both drivers read it bare, else quoted.
func quoteValue(v string) string {
	if plainChars(v, "._-/:~") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// checkRendered returns s only when pgx's and lib/pq's tokenisers (as
// securepg's redaction reads them, fuzzed against the drivers) both read
// exactly want from it, and securepg's sql.Open would not refuse it.
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
			name := map[string]string{pgdsn.Pgx: "pgx", pgdsn.PQ: "lib/pq"}[drv]
			return "", errors.New("securepg: DSN: the " + form + " would not read back as built under " + name + "'s parser")
		}
	}
	return s, nil
}
