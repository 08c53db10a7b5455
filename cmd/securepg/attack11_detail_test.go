package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestAttack11CheckDetailEscapes: check prints each violation's Detail
// and Fix as they are (check.go: violationJS{..., v.Detail, v.Fix} and the
// text "  - [%s] %s: %s"), while Host, Got and Want go through safe():
// since the refusal names where the sslmode came from, with the sslmode
// value as securepg's own reader found it, a value the driver never used
// (the first of a duplicate in a lib/pq URL; pgx the last) reaches the
// terminal raw.
func TestAttack11CheckDetailEscapes(t *testing.T) {
	for _, tc := range []struct{ name, driver, dsn, svc string }{
		{"pq URL duplicate", "securepg-pq", "postgres://app@db.internal/app?sslmode=disable&sslmode=\x1b]0;pwned\x07", ""},
		{"pq URL duplicate escaped", "securepg-pq", "postgres://app@db.internal/app?sslmode=disable&sslmode=%1b]0;pwned%07", ""},
		{"pgx URL duplicate", "securepg", "postgres://app@db.internal/app?sslmode=\x1b]0;pwned\x07&sslmode=disable", ""},
		{"pgx kv duplicate", "securepg", "host=db.internal sslmode='\x1b]0;pwned\x07' sslmode=disable", ""},
		{"pq kv duplicate", "securepg-pq", "host=db.internal sslmode='\x1b]0;pwned\x07' sslmode=disable", ""},
		{"pgx service duplicate", "securepg", "host=db.internal service=s", "[s]\nsslmode=\x1b]0;pwned\x07\nsslmode=disable\n"},
		{"pq service duplicate", "securepg-pq", "host=db.internal service=s", "[s]\nsslmode=\x1b]0;pwned\x07\nsslmode=disable\n"},
		{"pq service after", "securepg-pq", "host=db.internal service=s", "[s]\nsslmode=disable\nsslmode=\x1b]0;pwned\x07\n"},
		{"pgx service after", "securepg", "host=db.internal service=s", "[s]\nsslmode=disable\nsslmode=\x1b]0;pwned\x07\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.IsolateEnv(t)
			if tc.svc != "" {
				p := filepath.Join(t.TempDir(), "svc.conf")
				os.WriteFile(p, []byte(tc.svc), 0o600)
				t.Setenv("PGSERVICEFILE", p)
			}
			r := cli(t, tc.dsn, "check", "--driver", tc.driver)
			t.Logf("exit %d\nout: %q\nerr: %q", r.code, r.out, r.errOut)
			for _, s := range []string{r.out, r.errOut} {
				if strings.ContainsAny(s, "\x1b\x07") {
					t.Fatalf("check printed a control character from the configuration: %q", s)
				}
			}
			r = cli(t, tc.dsn, "check", "--driver", tc.driver, "--json")
			if strings.ContainsAny(r.out, "\x1b\x07") || strings.Contains(r.out, `\u001b`) {
				t.Fatalf("check --json carries a control character from the configuration: %q", r.out)
			}
		})
	}
}
