package securepg_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"

	"github.com/securepg/securepg"
	pgdsn "github.com/securepg/securepg/internal/dsn"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// breakers are the characters that break a DSN built with fmt.Sprintf,
// one value each and all at once, plus unicode, tabs, newlines and
// unicode spaces (lib/pq splits keyword/value DSNs on any of them).
var breakers = []string{
	"@", ":", "/", "?", "#", "&", "=", "%", "%41", "'", `\`, " ", "+", ";", ",", `"`, "[", "]", "$1",
	" @:/?#&=%'\\ ", " lead", "trail ", `\'`, `''`, `\\'`, "é☃😀", "\t", "\n", "\r\n", "\u00a0", "\u2003",
}

// certFiles are the test CA and a client certificate, copied to paths
// full of breakers.
type certFiles struct {
	ca, cert, key string
	caPEM         []byte
	clientDER     []byte
}

func newCertFiles(t testing.TB) certFiles {
	t.Helper()
	certs, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "dir with 'quotes' \\ @:?#&=% é")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cp := func(from, name string) (string, []byte) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, name)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return to, b
	}
	var f certFiles
	f.ca, f.caPEM = cp(certs.CAFile, "ca 'x' \\ @:?#&=%\t.pem")
	f.cert, _ = cp(certs.Client.CertFile, "client cert,;+.crt")
	f.key, _ = cp(certs.Client.KeyFile, " client key\n.key")
	f.clientDER = certs.Client.TLS.Certificate[0]
	return f
}

// pgxMode is the sslmode that pgx's parsed attempts amount to.
func pgxMode(c *pgconn.Config) string {
	tc := c.TLSConfig
	switch {
	case tc == nil && len(c.Fallbacks) == 0:
		return "disable"
	case tc == nil:
		return "allow"
	case len(c.Fallbacks) > 0:
		return "prefer"
	case tc.InsecureSkipVerify && tc.VerifyPeerCertificate == nil:
		return "require"
	case tc.InsecureSkipVerify:
		return "verify-ca"
	}
	return "verify-full"
}

// checkParsed parses s with both drivers' own parsers and reports every
// setting that is not d's.
func checkParsed(t *testing.T, d securepg.DSN, s string, files certFiles) {
	t.Helper()
	mode := d.SSLMode
	if mode == "" {
		mode = "verify-full"
	}
	port := d.Port
	if port == 0 {
		port = 5432
	}
	tcp := d.Host != "" && !strings.HasPrefix(d.Host, "/")

	pc, err := pgconn.ParseConfig(s)
	if err != nil {
		t.Errorf("pgx cannot parse %q: %v", s, err)
	} else {
		got := []string{pc.Database, pc.Password, fmt.Sprint(pc.Port)}
		want := []string{d.Database, d.Password, fmt.Sprint(port)}
		if d.Host != "" {
			got, want = append(got, pc.Host), append(want, d.Host)
		}
		if d.User != "" {
			got, want = append(got, pc.User), append(want, d.User)
		}
		for k, v := range d.Params {
			got, want = append(got, k+"="+pc.RuntimeParams[k]), append(want, k+"="+v)
		}
		if tcp {
			wantMode := mode
			if mode == "require" && d.RootCert != "" {
				wantMode = "verify-ca" // libpq's rule, which pgx follows
			}
			got, want = append(got, pgxMode(pc)), append(want, wantMode)
			if tc := pc.TLSConfig; tc != nil {
				if wantMode == "verify-full" {
					got, want = append(got, "ServerName="+tc.ServerName), append(want, "ServerName="+d.Host)
				}
				if d.RootCert != "" && d.RootCert != "system" {
					pool := x509.NewCertPool()
					pool.AppendCertsFromPEM(files.caPEM)
					got, want = append(got, fmt.Sprint("root CA read: ", tc.RootCAs != nil && tc.RootCAs.Equal(pool))), append(want, "root CA read: true")
				}
				if d.ClientCert != "" {
					ok := len(tc.Certificates) == 1 && bytes.Equal(tc.Certificates[0].Certificate[0], files.clientDER)
					got, want = append(got, fmt.Sprint("client certificate read: ", ok)), append(want, "client certificate read: true")
				}
			}
		}
		diff(t, "pgx", s, got, want)
	}

	qc, err := pq.NewConfig(s)
	if err != nil {
		t.Errorf("lib/pq cannot parse %q: %v", s, err)
		return
	}
	got := []string{qc.Database, qc.Password, fmt.Sprint(qc.Port), qc.SSLRootCert, qc.SSLCert, qc.SSLKey}
	want := []string{d.Database, d.Password, fmt.Sprint(port), d.RootCert, d.ClientCert, d.ClientKey}
	if d.Host != "" {
		got, want = append(got, qc.Host), append(want, d.Host)
	}
	if d.User != "" {
		got, want = append(got, qc.User), append(want, d.User)
	}
	if tcp {
		got, want = append(got, string(qc.SSLMode)), append(want, mode)
	}
	for k, v := range d.Params {
		read := qc.Runtime[k]
		switch k { // lib/pq keeps the settings it knows in fields
		case "application_name":
			read = qc.ApplicationName
		case "options":
			read = qc.Options
		}
		got, want = append(got, k+"="+read), append(want, k+"="+v)
	}
	diff(t, "lib/pq", s, got, want)
}

func diff(t *testing.T, drv, s string, got, want []string) {
	t.Helper()
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s reads %q from %q, want %q", drv, got[i], s, want[i])
		}
	}
}

// renderBoth renders d in both forms and checks each with both drivers.
func renderBoth(t *testing.T, d securepg.DSN, files certFiles) {
	t.Helper()
	for _, form := range []struct {
		name   string
		render func() (string, error)
	}{{"url", d.URL}, {"kv", d.KeywordValue}} {
		s, err := form.render()
		if err != nil {
			t.Errorf("%s: %v", form.name, err)
			continue
		}
		checkParsed(t, d, s, files)
	}
}

// TestDSNBuilderRoundTrip renders users, passwords, databases, paths and
// parameter values holding every character that breaks a fmt.Sprintf
// DSN, as a URL and as keyword/value, and parses each with pgx's and
// lib/pq's own parsers: every setting read is the field's value. The
// certificate paths are real files, which pgx reads while parsing.
func TestDSNBuilderRoundTrip(t *testing.T) {
	isolateEnv(t)
	files := newCertFiles(t)
	base := securepg.DSN{Host: "db.example.com", Port: 6543, Database: "app", User: "app", Password: "Zq7-plain"}
	for _, b := range breakers {
		for _, field := range []string{"Password", "User", "Database", "Param"} {
			d := base
			v := "x" + b + "y"
			switch field {
			case "Password":
				d.Password = "Zq7" + b
			case "User":
				d.User = v
			case "Database":
				d.Database = v
				if strings.Contains(b, "@") {
					// securepg reads '@' in a URL's database as a
					// misplaced password and refuses it; only
					// keyword/value renders it.
					if _, err := d.URL(); err == nil || !strings.Contains(err.Error(), "KeywordValue") {
						t.Errorf("URL with '@' in Database: err = %v, want a refusal naming KeywordValue", err)
					}
					s, err := d.KeywordValue()
					if err != nil {
						t.Fatal(err)
					}
					checkParsed(t, d, s, files)
					continue
				}
			case "Param":
				d.Params = map[string]string{"search_path": v, "myapp.tenant": b}
			}
			renderBoth(t, d, files)
		}
	}

	all := strings.Join(breakers, "")
	for _, tc := range []struct {
		name string
		d    securepg.DSN
	}{
		{"everything at once", securepg.DSN{Host: "localhost", Port: 5432, Database: strings.ReplaceAll(all, "@", ""), User: all,
			Password: "Zq7" + all, RootCert: files.ca, ClientCert: files.cert, ClientKey: files.key,
			Params: map[string]string{"application_name": all, "options": "-c search_path=" + all}}},
		{"ipv4", securepg.DSN{Host: "127.0.0.1", Port: 5433, User: "u", Password: "Zq7@:"}},
		{"ipv4 no port", securepg.DSN{Host: "127.0.0.1", User: "u"}},
		{"ipv6 with port", securepg.DSN{Host: "::1", Port: 5433, User: "u", Password: "Zq7]["}},
		{"ipv6 without port", securepg.DSN{Host: "2001:db8::1", User: "u"}},
		{"ipv6 zone", securepg.DSN{Host: "fe80::1%eth0", Port: 5432, User: "u"}},
		{"ipv6 zone without port", securepg.DSN{Host: "fe80::1%eth0", User: "u"}},
		{"unix socket directory", securepg.DSN{Host: "/tmp/sock dir 'x'", Port: 5433, User: "u", Password: "Zq7/"}},
		{"port, no host", securepg.DSN{Port: 5433, User: "u", Database: "d"}},
		{"no host, no user", securepg.DSN{Database: "d b"}},
		{"password, no user", securepg.DSN{Host: "h", Password: "Zq7:@"}},
		{"nothing", securepg.DSN{}},
		{"verify-ca", securepg.DSN{Host: "h", SSLMode: "verify-ca", RootCert: files.ca}},
		{"require", securepg.DSN{Host: "h", SSLMode: "require"}},
		{"require with a root", securepg.DSN{Host: "h", SSLMode: "require", RootCert: files.ca}},
		{"prefer", securepg.DSN{Host: "h", SSLMode: "prefer"}},
		{"allow", securepg.DSN{Host: "h", SSLMode: "allow"}},
		{"disable", securepg.DSN{Host: "h", SSLMode: "disable"}},
		{"system roots", securepg.DSN{Host: "h", RootCert: "system"}},
		{"client certificate", securepg.DSN{Host: "h", User: "certuser", RootCert: files.ca, ClientCert: files.cert, ClientKey: files.key}},
		{"underscore host", securepg.DSN{Host: "db_1.internal", Port: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) { renderBoth(t, tc.d, files) })
	}
}

// TestDSNBuilderRendering pins the exact text of both forms.
func TestDSNBuilderRendering(t *testing.T) {
	for _, tc := range []struct {
		d       securepg.DSN
		url, kv string
	}{
		{securepg.DSN{Host: "db.example.com", Database: "app", User: "app", Password: "p@ss w/o:rd?#&=%'\\+"},
			"postgres://app:p%40ss%20w%2Fo%3Ard%3F%23%26%3D%25%27%5C%2B@db.example.com/app?sslmode=verify-full",
			`host=db.example.com dbname=app user=app password='p@ss w/o:rd?#&=%\'\\+' sslmode=verify-full`},
		{securepg.DSN{Host: "::1", Port: 5433, SSLMode: "require", RootCert: "/etc/ssl/ca.pem", Params: map[string]string{"application_name": "my app", "connect_timeout": "5"}},
			"postgres://[::1]:5433?sslmode=require&sslrootcert=/etc/ssl/ca.pem&application_name=my%20app&connect_timeout=5",
			"host=::1 port=5433 sslmode=require sslrootcert=/etc/ssl/ca.pem application_name='my app' connect_timeout=5"},
		{securepg.DSN{Host: "/var/run/postgresql", User: "me"},
			"postgres://me@?host=/var/run/postgresql&sslmode=verify-full",
			"host=/var/run/postgresql user=me sslmode=verify-full"},
		{securepg.DSN{},
			"postgres://?sslmode=verify-full",
			"sslmode=verify-full"},
	} {
		if got, err := tc.d.URL(); err != nil || got != tc.url {
			t.Errorf("URL() = %q, %v; want %q", got, err, tc.url)
		}
		if got, err := tc.d.KeywordValue(); err != nil || got != tc.kv {
			t.Errorf("KeywordValue() = %q, %v; want %q", got, err, tc.kv)
		}
	}
}

// TestDSNBuilderRefuses: what cannot be rendered safely is an error from
// both forms, which names the field and never shows a value.
func TestDSNBuilderRefuses(t *testing.T) {
	const pw = "Zq7-refused-secret"
	for _, tc := range []struct {
		name string
		d    securepg.DSN
		want string
	}{
		{"NUL in password", securepg.DSN{Host: "h", Password: pw + "\x00"}, "Password holds a NUL byte"},
		{"NUL in user", securepg.DSN{Host: "h", User: "a\x00b", Password: pw}, "User holds a NUL byte"},
		{"NUL in a param", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"options": "a\x00"}}, "NUL"},
		{"invalid UTF-8", securepg.DSN{Host: "h", Password: pw + "\xff"}, "Password is not valid UTF-8"},
		{"host with a comma", securepg.DSN{Host: "a,b", Password: pw}, "Host"},
		{"host in brackets", securepg.DSN{Host: "[::1]", Password: pw}, "Host"},
		{"host with a port", securepg.DSN{Host: "db:5432", Password: pw}, "Host"},
		{"host with userinfo", securepg.DSN{Host: "u:" + pw + "@db", Password: pw}, "Host"},
		{"unicode host", securepg.DSN{Host: "bücher.example", Password: pw}, "Host"},
		{"socket list", securepg.DSN{Host: "/a,/b", Password: pw}, "Host"},
		{"zone with a slash", securepg.DSN{Host: "fe80::1%a/b", Password: pw}, "Host"},
		{"negative port", securepg.DSN{Host: "h", Port: -1, Password: pw}, "Port"},
		{"port too large", securepg.DSN{Host: "h", Port: 65536, Password: pw}, "Port"},
		{"unknown sslmode", securepg.DSN{Host: "h", SSLMode: "verify_full", Password: pw}, "SSLMode"},
		{"lib/pq's registered TLS config", securepg.DSN{Host: "h", SSLMode: "pqgo-mine", Password: pw}, "SSLMode"},
		{"system roots below verify-full", securepg.DSN{Host: "h", SSLMode: "require", RootCert: "system", Password: pw}, "verify-full"},
		{"cert without key", securepg.DSN{Host: "h", ClientCert: "/c", Password: pw}, "ClientCert and ClientKey"},
		{"key without cert", securepg.DSN{Host: "h", ClientKey: "/k", Password: pw}, "ClientCert and ClientKey"},
		{"param repeats password", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"password": pw + "2"}}, `Params["password"] repeats`},
		{"param repeats sslmode", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"sslmode": "disable"}}, `Params["sslmode"]`},
		{"param ssl alias", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"ssl": "true"}}, `Params["ssl"]`},
		{"param dbname", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"DBName": "x"}}, `Params["DBName"]`},
		{"param service", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"service": "evil"}}, `Params["service"] is refused`},
		{"param SERVICE", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"SERVICE": "evil"}}, `Params["SERVICE"] is refused`},
		{"param servicefile", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"servicefile": "/tmp/evil"}}, `Params["servicefile"] is refused`},
		{"param hostaddr", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"hostaddr": "10.6.6.6"}}, `Params["hostaddr"] is refused`},
		{"param passfile", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"passfile": "/tmp/evil"}}, `Params["passfile"] is refused`},
		{"param sslinline", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"sslinline": "true"}}, `Params["sslinline"] is refused`},
		{"param sslrootcert", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"sslrootcert": "/tmp/evil"}}, `Params["sslrootcert"] repeats`},
		{"param port", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"port": "6666"}}, `Params["port"] repeats`},
		{"user hiding a setting behind NBSP", securepg.DSN{Host: "h", User: "app\u00a0sslmode=disable", Password: pw}, "non-ASCII space"},
		{"param hiding password= behind U+3000", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"application_name": "a\u3000password\u3000=" + pw}}, "looks like another setting"},
		{"param key with a space", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"a b": "x"}}, "not shown"},
		{"param key with =", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"password=" + pw + " x": "y"}}, "not shown"},
		{"param key starting with a digit", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"1x": "y"}}, "not shown"},
		{"empty param key", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"": "y"}}, "not shown"},
		{"empty param value", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"application_name": ""}}, "empty"},
		{"user that is another setting", securepg.DSN{Host: "h", User: "host=evil", Password: pw}, "looks like another setting"},
		{"database holding password=", securepg.DSN{Host: "h", Database: "x password=y", Password: pw}, "looks like another setting"},
		{"param holding password=", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"application_name": "password=" + pw}}, "looks like another setting"},
		{"too long", securepg.DSN{Host: "h", Password: pw, Params: map[string]string{"options": strings.Repeat("x", 70<<10)}}, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for form, render := range map[string]func() (string, error){"URL": tc.d.URL, "KeywordValue": tc.d.KeywordValue} {
				s, err := render()
				if err == nil {
					t.Fatalf("%s() = %q, want an error", form, s)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "securepg: ") {
					t.Errorf("%s(): %v; want it to say %q", form, err, tc.want)
				}
				if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "evil") {
					t.Errorf("%s(): the error shows a value: %v", form, err)
				}
			}
			if s := tc.d.String(); !strings.HasPrefix(s, "securepg.DSN(invalid: ") || strings.Contains(s, pw) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

// TestDSNBuilderNeverPrintsThePassword: String, GoString, every fmt verb
// (on the value, a pointer, and a struct field), slog's text and JSON
// handlers, and errors never show the password, in any encoding, nor a
// secret parameter or key material.
func TestDSNBuilderNeverPrintsThePassword(t *testing.T) {
	const pw = "Zq7 p@ss:w/o?r#d&=%'\\é"
	const keyPEM = "-----BEGIN EC PRIVATE KEY-----\nZq7keymaterial\n-----END EC PRIVATE KEY-----"
	forms := []string{pw, url.QueryEscape(pw), url.PathEscape(pw), url.UserPassword("", pw).String()[1:], `Zq7 p@ss:w/o?r#d&=%\'\\é`, "Zq7%20p%40ss"}
	dsns := map[string]securepg.DSN{
		"valid": {Host: "db.example.com", Port: 5432, Database: "app", User: "app", Password: pw, RootCert: "/ca.pem",
			Params: map[string]string{"sslpassword": pw, "my_pass_phrase": pw, "application_name": "api"}},
		"key material":      {Host: "db.example.com", User: "app", Password: pw, ClientCert: "/c.pem", ClientKey: keyPEM, Params: map[string]string{"sslinline": "true"}},
		"URL-only invalid":  {Host: "h", Database: "a@b", Password: pw},
		"invalid":           {Host: "h,h2", Password: pw},
		"invalid parameter": {Host: "h", Password: pw, Params: map[string]string{"sslmode": pw}},
	}
	type wrapper struct {
		Name string
		DSN  securepg.DSN
		Ptr  *securepg.DSN
	}
	for name, d := range dsns {
		t.Run(name, func(t *testing.T) {
			var out []string
			out = append(out, d.String(), d.GoString())
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.60s", "%T"} {
				out = append(out, fmt.Sprintf(verb, d), fmt.Sprintf(verb, &d))
			}
			// %p of a value is the one verb fmt handles before any method:
			// it prints the fields (documented on DSN).
			out = append(out, fmt.Sprintf("%p", &d))
			w := wrapper{Name: "w", DSN: d, Ptr: &d}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d"} {
				out = append(out, fmt.Sprintf(verb, w), fmt.Sprintf(verb, []securepg.DSN{d}), fmt.Sprintf(verb, map[string]any{"d": d}))
			}
			out = append(out, fmt.Sprint(d), fmt.Sprintln(d, &d), fmt.Errorf("opening %v: %w", d, os.ErrNotExist).Error())
			var buf bytes.Buffer
			for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
				slog.New(h).Info("connecting", "dsn", d, "ptr", &d, slog.Group("g", "dsn", d), "any", any(d))
			}
			out = append(out, buf.String())
			if s, err := d.URL(); err != nil {
				out = append(out, err.Error())
			} else if !strings.Contains(s, "Zq7%20p%40ss") {
				t.Errorf("URL() = %q does not carry the password", s)
			}
			if _, err := d.KeywordValue(); err != nil {
				out = append(out, err.Error())
			}
			text := strings.Join(out, "\n")
			for _, f := range append(forms, "Zq7keymaterial") {
				if strings.Contains(text, f) {
					t.Fatalf("the password (as %q) is shown:\n%s", f, text)
				}
			}
			if name == "valid" && (!strings.Contains(text, "app:xxxxx@db.example.com") || !strings.Contains(text, `Password:"xxxxx"`) ||
				!strings.Contains(text, `"sslpassword":"xxxxx"`) || !strings.Contains(text, "application_name=api")) {
				t.Errorf("the redacted forms do not show what they should:\n%s", text)
			}
		})
	}
}

// TestDSNBuilderConnects: DSNs built for a role and a database whose
// names, and a password, hold the characters that break fmt.Sprintf
// DSNs open the lab server through securepg with both backends, as URL
// and keyword/value, verified TLS on the wire; and client-certificate
// paths full of the same characters authenticate the certificate role.
func TestDSNBuilderConnects(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const (
		role     = `dsn user @:/?#&='\ é`
		database = `dsn db :/?#&='\ é`
		password = `Zq7 p@ss:w/o?r#d&=%'\ é`
	)
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	exec := func(q string) {
		t.Helper()
		if _, err := admin.Exec(ctx, q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	r, db := pgx.Identifier{role}.Sanitize(), pgx.Identifier{database}.Sanitize()
	// The cluster is shared by the test binary's runs (go test -count=N).
	exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)")
	exec("DROP ROLE IF EXISTS " + r)
	exec("CREATE ROLE " + r + " LOGIN PASSWORD '" + strings.ReplaceAll(password, "'", "''") + "'")
	exec("CREATE DATABASE " + db + " OWNER " + r)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := l.Admin(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer a.Close(context.Background())
		for _, q := range []string{"DROP DATABASE IF EXISTS " + db + " WITH (FORCE)", "DROP ROLE IF EXISTS " + r} {
			if _, err := a.Exec(ctx, q).ReadAll(); err != nil {
				t.Error(err)
			}
		}
	})
	// The lab's CA and client certificate, at paths full of breakers.
	dir := filepath.Join(t.TempDir(), "dir 'x' \\ @:?#&=% é")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	copyTo := func(from, name string) string {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, name)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return to
	}
	ca := copyTo(l.Certs.CAFile, "ca 'x' \\ @:?#&=%\t.pem")
	clientCert := copyTo(l.Certs.Client.CertFile, "client cert,;+.crt")
	clientKey := copyTo(l.Certs.Client.KeyFile, " client key\n.key")

	byPassword := securepg.DSN{Host: "localhost", Port: l.Port, Database: database, User: role, Password: password, RootCert: ca,
		Params: map[string]string{"application_name": `dsn app ' \ @:/?#&=%`}} // the server keeps printable ASCII only
	byCert := securepg.DSN{Host: "localhost", Port: l.Port, Database: l.Database, User: pglab.ClientCN, RootCert: ca, ClientCert: clientCert, ClientKey: clientKey}
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name   string
			d      securepg.DSN
			user   string
			dbname string
		}{{"password", byPassword, role, database}, {"client certificate", byCert, pglab.ClientCN, l.Database}} {
			for form, render := range map[string]func() (string, error){"url": tc.d.URL, "kv": tc.d.KeywordValue} {
				t.Run(drv+"/"+tc.name+"/"+form, func(t *testing.T) {
					isolateEnv(t)
					s, err := render()
					if err != nil {
						t.Fatal(err)
					}
					sdb, err := sql.Open(driverName(drv), s)
					if err != nil {
						t.Fatal(err)
					}
					defer sdb.Close()
					var user, dbname, app string
					var ssl bool
					err = sdb.QueryRowContext(ctx, "SELECT current_user, current_database(), current_setting('application_name'), s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()").Scan(&user, &dbname, &app, &ssl)
					if err != nil {
						t.Fatal(err)
					}
					if user != tc.user || dbname != tc.dbname || !ssl {
						t.Fatalf("connected as %q to %q (ssl %v), want %q to %q over TLS", user, dbname, ssl, tc.user, tc.dbname)
					}
					if want := tc.d.Params["application_name"]; want != "" && app != want {
						t.Fatalf("application_name %q, want %q", app, want)
					}
				})
			}
		}
	}
}

// FuzzDSNBuilderRoundTrip: for any field values, the builder either
// refuses (with an error that shows no password) or renders a URL and a
// keyword/value DSN that pgx's and lib/pq's own parsers both read back as
// exactly the fields; String never shows the password. The certificate
// fields name real files (pgx reads them while parsing) whose names come
// from the fuzzer.
func FuzzDSNBuilderRoundTrip(f *testing.F) {
	labtest.IsolateEnv(f)
	files := newCertFiles(f)
	caPEM := files.caPEM
	certPEM, err := os.ReadFile(files.cert)
	if err != nil {
		f.Fatal(err)
	}
	keyPEM, err := os.ReadFile(files.key)
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	for _, b := range breakers {
		f.Add("db.example.com", 5432, "x"+b, "x"+b, "Zq7"+b, "", "ca"+b, "", "", "search_path", b)
	}
	f.Add("::1", 0, "d", "u", "Zq7", "require", "", "cert", "key", "my.key", "v")
	f.Add("/tmp/s d", 5433, "d@b", "u", "", "disable", "", "", "", "options", "-c x=y")
	f.Add("fe80::1%eth0", 1, "", "", "Zq7:@", "verify-ca", "ca", "", "", "", "")
	f.Add("", 0, "host=x", "user=y", "password=z", "", "", "", "", "application_name", "password=")
	f.Add("h", 65535, "\x00", "\xff", "\t\n", "prefer", "", "", "", "a b", "c")
	f.Fuzz(func(t *testing.T, host string, port int, database, user, password, sslmode, rootcert, cert, key, pkey, pval string) {
		d := securepg.DSN{Host: host, Port: port, Database: database, User: user, Password: password, SSLMode: sslmode}
		// The certificate fields are files named by the fuzzer, in dir.
		place := func(name string, content []byte) string {
			if name == "" {
				return ""
			}
			name = "f" + strings.ReplaceAll(name, "/", "_")
			if len(name) > 200 {
				name = name[:200]
			}
			p := filepath.Join(dir, name)
			if strings.IndexByte(p, 0) < 0 {
				if err := os.WriteFile(p, content, 0o600); err == nil {
					t.Cleanup(func() { os.Remove(p) })
				}
			}
			return p
		}
		d.RootCert = place(rootcert, caPEM)
		d.ClientCert = place(cert, certPEM)
		d.ClientKey = place(key, keyPEM)
		if pkey != "" && !pgdsn.IsKeyword(strings.ToLower(pkey)) {
			d.Params = map[string]string{pkey: pval} // a keyword's value is checked by each driver its own way
		}

		// What String, GoString, fmt and the errors show must not depend
		// on the password's value, only on whether there is one.
		shown := func(d securepg.DSN) string {
			_, errURL := d.URL()
			_, errKV := d.KeywordValue()
			var buf bytes.Buffer
			noTime := func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}
			slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("x", "dsn", d)
			return fmt.Sprintf("%s\n%s\n%v %+v %#v %d %q\n%v\n%v\n%s", d.String(), d.GoString(), d, d, d, d, d, errURL, errKV, buf.String())
		}
		comparable := password != "" && len(password) < 1000 && utf8.ValidString(password) && strings.IndexByte(password, 0) < 0
		if comparable {
			other := d
			other.Password = "Zq7-another"
			if a, b := shown(d), shown(other); a != b {
				t.Fatalf("what is shown depends on the password:\n%s\n---\n%s", a, b)
			}
		}
		for _, render := range []func() (string, error){d.URL, d.KeywordValue} {
			s, err := render()
			if err != nil {
				continue
			}
			checkParsed(t, d, s, files)
		}
	})
}

// TestURLBadPortIsNotCalledAPassword: a URL whose port is not a number,
// and that has no password, is not diagnosed as a misplaced password.
func TestURLBadPortIsNotCalledAPassword(t *testing.T) {
	isolateEnv(t)
	for _, u := range []string{"postgres://app@db:54321x/app?sslmode=verify-full", "postgres://db:abc/app"} {
		_, err := securepg.NewConnector(u, securepg.WithLogger(discardLogger()))
		if err == nil || !strings.Contains(err.Error(), "port") || strings.Contains(err.Error(), "holds part of the password") {
			t.Errorf("%s: %v", u, err)
		}
	}
}
