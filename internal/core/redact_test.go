package core

import (
	"fmt"
	"strings"
	"testing"
)

const marker = "Zq7Secret"

// malformed DSNs, each with the marker where a password would be read.
var redactSeeds = []string{
	"password=" + marker + " sslmode=nonsense",
	"password='" + marker + " port=abc",
	"password=" + marker + " port=notaport",
	"host=h password=" + marker + "\\ x port=99999999",
	"postgres://u:" + marker + "@h:badport/db",
	"postgres://u:" + marker + ":x@h/db",
	"postgres://u:sec:" + marker + "@h",
	"postgresql://u:" + marker + "@h/db?sslmode=bogus",
	"postgres://u:" + marker + "@h/db?target_session_attrs=" + marker,
	"postgres://u:" + marker + "@[::1/db",
	"postgres://u:" + marker + "@h/db?port=" + marker,
	"password=" + marker + " target_session_attrs=" + marker,
	"password = '" + marker + "' channel_binding=" + marker,
	"user=u password=" + marker + " connect_timeout=" + marker,
	"sslpassword=" + marker + " sslmode=what",
	"postgres://u:%5A" + marker[1:] + "@h:x/db",
}

func TestParseErrorsCarryNoPassword(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, dsn := range redactSeeds {
		for _, drv := range []string{DriverPgx, DriverPQ} {
			p := DefaultPolicy()
			var err error
			if drv == DriverPgx {
				_, _, err = PreparePgx(dsn, p)
			} else {
				_, _, err = PreparePQ(dsn, p)
			}
			if err == nil {
				continue
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, marker) || strings.Contains(s, marker[1:]) {
					t.Errorf("%s: %q leaks the password: %s", drv, dsn, s)
				}
			}
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='with space' sslmode=verify-full", "host=h password=xxxxx sslmode=verify-full"},
		{"postgres://u:secret@h:5432/d?sslmode=verify-full", "postgres://u:xxxxx@h:5432/d?sslmode=verify-full"},
		{"postgres://u@h/d?password=secret", "postgres://u@h/d?password=xxxxx"},
		{"password='unterminated", "(unparseable keyword/value string, not shown)"},
		{"postgres://u:sec:ret@[h/d", "postgres://(unparseable URL, not shown)"},
	} {
		if got := RedactDSN(tc.in); got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedaction: whatever surrounds a password, neither a parser error nor
// a redacted DSN shows it.
func FuzzRedaction(f *testing.F) {
	for _, s := range redactSeeds {
		f.Add(strings.ReplaceAll(s, marker, ""))
	}
	f.Add(" port=x")
	f.Add("' host=a")
	f.Fuzz(func(t *testing.T, s string) {
		t.Setenv("HOME", t.TempDir())
		for _, dsn := range []string{
			"password=" + marker + s,
			s + " password=" + marker,
			"postgres://u:" + marker + s,
			"postgres://u:" + marker + "@" + s,
			"password='" + marker + s,
		} {
			if r := RedactDSN(dsn); strings.Contains(r, marker) {
				t.Fatalf("RedactDSN(%q) = %q", dsn, r)
			}
			for _, drv := range []string{DriverPgx, DriverPQ} {
				var err error
				if drv == DriverPgx {
					_, _, err = PreparePgx(dsn, DefaultPolicy())
				} else {
					_, _, err = PreparePQ(dsn, DefaultPolicy())
				}
				if err != nil && strings.Contains(err.Error(), marker) {
					t.Fatalf("%s: %q: %v", drv, dsn, err)
				}
			}
		}
	})
}
