package securepg_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// forged draws, on a terminal that reads it raw, a line that erases the
// error and says the opposite: ESC sequences, an OSC title ended by BEL, a
// carriage return, a C1 CSI, and a bidi override.
const forged = "\x1b[2K\r\x1b[32mOK: connection verified\x1b[0m\x1b]0;owned\x07\u009b2J\u202edeifirev"

// controlBytes reports the first rune of s that could control a terminal
// or disguise text, or -1.
func controlBytes(s string) rune {
	for _, r := range s {
		if r == utf8RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return r
		}
	}
	return -1
}

const utf8RuneError = '\uFFFD'

// hostileErrorResponse is a FATAL ErrorResponse whose every text field is
// forged.
func hostileErrorResponse() []byte {
	var body []byte
	for _, f := range []struct {
		k byte
		v string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "28000"}, {'M', "login refused" + forged}, {'D', "detail" + forged},
		{'H', "hint" + forged}, {'W', "where" + forged}, {'s', "schema" + forged}, {'R', "routine" + forged}} {
		body = append(append(append(body, f.k), f.v...), 0)
	}
	body = append(body, 0)
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(body)+4))
	return append(out, body...)
}

// TestServerErrorTextIsEscaped: an impostor with a valid certificate (the
// CA is the test CA) answers the startup message with an ErrorResponse
// that forges an "OK: connection verified" line. On both backends the
// error database/sql returns has no control character, while errors.As
// still reaches the driver's own error with the raw fields.
func TestServerErrorTextIsEscaped(t *testing.T) {
	certs, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	imp, err := pglab.NewReplyImpostor(certs.Server.TLS, hostileErrorResponse())
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	dsn := "host=localhost port=" + imp.PortString() + " user=app dbname=x sslmode=verify-full sslrootcert=" + certs.CAFile
	for _, name := range []string{securepg.DriverName, libpq.DriverName} {
		t.Run(name, func(t *testing.T) {
			isolateEnv(t)
			db, err := sql.Open(name, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = db.PingContext(ctx)
			if err == nil {
				t.Fatal("connected to an impostor that refused the login")
			}
			if r := controlBytes(err.Error()); r >= 0 {
				t.Fatalf("control character %U in the error: %q", r, err.Error())
			}
			if !strings.Contains(err.Error(), `OK: connection verified`) || !strings.Contains(err.Error(), `\x1b`) {
				t.Fatalf("the server's text is not shown escaped: %q", err.Error())
			}
			if name == libpq.DriverName {
				var pe *pq.Error
				if !errors.As(err, &pe) || pe.Message != "login refused"+forged || pe.Hint != "hint"+forged {
					t.Fatalf("errors.As(*pq.Error) = %#v", pe)
				}
				return
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Message != "login refused"+forged || pe.Detail != "detail"+forged || pe.Code != "28000" {
				t.Fatalf("errors.As(*pgconn.PgError) = %#v", pe)
			}
		})
	}
}

// TestHostileCertificateSubjectInSpans: a certificate that verifies (the
// test CA signed it, for localhost) but whose subject and issuer names
// carry ESC, OSC and BEL reaches the connect span's tls.server.subject
// escaped.
func TestHostileCertificateSubjectInSpans(t *testing.T) {
	l := getLab(t)
	imp := certImpostor(t, l, "evil\x1b]0;owned\x07\x1b[2J\u202e\u0085", []string{"localhost"}, net.IPv4(127, 0, 0, 1))
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			c, err := connectorFor(drv, l.at(imp, "sslmode=verify-full sslrootcert="+l.Certs.CAFile), s.opts...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			seen := false
			for _, sp := range s.spans.Ended() {
				for _, kv := range sp.Attributes() {
					v := kv.Value.String()
					if r := controlBytes(v); r >= 0 {
						t.Fatalf("span %s: %s has %U: %q", sp.Name(), kv.Key, r, v)
					}
					if kv.Key == "tls.server.subject" {
						seen = seen || strings.Contains(v, `CN=evil\x1b]0`)
					}
				}
			}
			if !seen {
				t.Fatal("no escaped tls.server.subject attribute")
			}
		})
	}
}

// TestPasswordBehindAUnicodeSpace: lib/pq splits key/value settings at
// any Unicode space, pgx only at ASCII ones, so pgx reads
// user=app<NBSP>password<NBSP>=<NBSP>secret as one user name and would
// print it in its connect error. securepg refuses the DSN on pgx (with or
// without SECUREPG_FORBID_DSN_PASSWORD), lib/pq refuses it under
// SECUREPG_FORBID_DSN_PASSWORD, and no error shows the secret.
func TestPasswordBehindAUnicodeSpace(t *testing.T) {
	const secret = "Zq7-unicode-space"
	for _, sp := range []string{"\u00a0", "\u0085", "\u1680", "\u2000", "\u2007", "\u200a", "\u2028", "\u202f", "\u205f", "\u3000"} {
		for _, forbid := range []string{"", "true"} {
			for _, name := range []string{securepg.DriverName, libpq.DriverName} {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "require")
				t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
				if forbid != "" {
					t.Setenv("SECUREPG_FORBID_DSN_PASSWORD", forbid)
				}
				dsn := "host=127.0.0.1 port=1 user=app" + sp + "password" + sp + "=" + sp + secret + " sslmode=require connect_timeout=5"
				db, err := sql.Open(name, dsn)
				if err == nil {
					err = db.Ping()
					db.Close()
				}
				switch {
				case err == nil:
					t.Fatalf("%U %s forbid=%q: connected", []rune(sp)[0], name, forbid)
				case strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Zq7"):
					t.Fatalf("%U %s forbid=%q: the error shows the password: %v", []rune(sp)[0], name, forbid, err)
				case name == securepg.DriverName && !strings.Contains(err.Error(), "non-ASCII space"):
					t.Fatalf("%U pgx forbid=%q: not refused as a DSN the drivers read differently: %v", []rune(sp)[0], forbid, err)
				case name == libpq.DriverName && forbid != "" && !errors.Is(err, securepg.ErrPolicyViolation):
					t.Fatalf("%U lib/pq: not refused under SECUREPG_FORBID_DSN_PASSWORD: %v", []rune(sp)[0], err)
				}
			}
		}
	}
}

// certImpostor relays to the lab's server behind a certificate the lab's
// CA issued for subject, names and ip; it is closed when t ends.
func certImpostor(t *testing.T, l *lab, subject string, names []string, ip net.IP) *pglab.Proxy {
	t.Helper()
	kp, err := l.Certs.Issue(subject, names, []net.IP{ip})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := pglab.NewTLSImpostor(l.Addr(), kp.TLS, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imp.Close() })
	return imp
}
