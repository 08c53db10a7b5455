package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestAttackFleetHostileLines: a targets file's lines are the user's own,
// but they end up in a report that is shared (CI logs): no secret from a
// line, and no control character from it, reaches the JSON or the table,
// whatever the line's shape.
func TestAttackFleetHostileLines(t *testing.T) {
	lines := []string{
		"postgres://u:Kx9url@127.0.0.1:1/db?sslmode=verify-full",
		"host=127.0.0.1 port=1 password=Kx9kv sslmode=verify-full",
		"host=127.0.0.1 port=1 password='Kx9 quoted' sslmode=verify-full",
		`host=127.0.0.1 port=1 password=Kx9\ esc sslmode=verify-full`,
		"host=127.0.0.1 port=1 password=Kx9unterminated'",
		"127.0.0.1:1 password=Kx9hp",
		"postgres://u:Kx9bad%zz@127.0.0.1:1/db",
		"postgres://u:Kx9at@x@127.0.0.1:1/db",
		"host=127.0.0.1 port=1 sslpassword=Kx9sslpw sslmode=verify-full",
		"host=127.0.0.1 port=1 passfile=/nonexistent/Kx9pf sslmode=verify-full",
		"host='\x1b]0;owned\x07\x1b[31m' port=1",
		"\x1b[2J127.0.0.1:1",
		"host=127.0.0.1\x00nulhost port=1",
		"postgres://127.0.0.1:1/db?options=-c%20password%3DKx9opt",
		"postgresql://u:Kx9percent%40x@127.0.0.1:1/db",
		"host=127.0.0.1 port=1 password = Kx9spaced sslmode=verify-full",
		"postgres://u:Kx9frag@127.0.0.1:1/db#frag",
		"postgres://u@127.0.0.1:1/db?password=Kx9query",
	}
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			file := filepath.Join(t.TempDir(), "targets")
			if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"--json"}, {}} {
				r := rawCLI(append([]string{"probe", "--driver", testDriverName(), "--targets", file, "--timeout", "2s"}, args...)...)
				all := r.out + r.errOut
				for _, bad := range []string{"\x1b", "\x07", "\x00"} {
					if strings.Contains(all, bad) {
						t.Errorf("%v: a control character %q in the output:\n%q", args, bad, all)
					}
				}
				if i := strings.Index(all, "Kx9"); i >= 0 {
					t.Errorf("%v: a secret in the output: %q", args, all[max(0, i-80):min(len(all), i+40)])
				}
				if os.Getenv("ATTACK_SHOW") != "" {
					t.Logf("%s\n%s", r.out, r.errOut)
				}
				if r.code == exitOK {
					t.Errorf("%v: exit 0", args)
				}
			}
		})
	}
}

// rawCLI is cli without its own output checks: this file's tests look
// at the output themselves, and show it.
func rawCLI(args ...string) result {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}
