package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
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

// TestAttackFleetBounds: hostile peers that stall at each stage (before
// the SSLRequest answer, after it, after a verified handshake) hold a
// target no longer than --timeout, on both backends; and the caller's
// context (Ctrl-C) ends the whole fleet at once, whatever --timeout is.
func TestAttackFleetBounds(t *testing.T) {
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, st := range []lab.Stall{lab.StallAtOnce, lab.StallAfterS, lab.StallAfterTLS} {
		p, err := lab.NewStallProxy(st, certs.Server.TLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		lines = append(lines, "localhost:"+p.PortString())
	}
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			t.Setenv("PGUSER", "attackuser")
			t.Setenv("PGDATABASE", "attackdb")
			t.Setenv("SECUREPG_SSLROOTCERT", certs.CAFile)
			useDriver(t, drv)
			file := filepath.Join(t.TempDir(), "targets")
			if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := rawCLI("probe", "--driver", testDriverName(), "--targets", file, "--timeout", "1s", "--parallel", "3", "--json")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("three stalling targets, 1s each, in parallel took %v:\n%s\n%s", d, r.out, r.errOut)
			}
			if r.code == exitOK {
				t.Errorf("exit 0 with stalling targets")
			}
			// The caller's context: a fleet with a 30 s bound per target
			// ends soon after its context does.
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start = time.Now()
			var out, errb bytes.Buffer
			code := run(ctx, []string{"probe", "--driver", testDriverName(), "--targets", file, "--parallel", "1", "--json"}, strings.NewReader(""), &out, &errb)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the fleet outlived its context by %v (exit %d):\n%s\n%s", d, code, out.String(), errb.String())
			}
			if code == exitOK {
				t.Errorf("exit 0 after the context ended")
			}
		})
	}
}

// TestAttackFleetDowngradeTestToImpostor: probe --targets sends no user
// name to a server whose certificate fails verification, "whatever the
// policy accepts"; with --downgrade-test it sent one anyway, in
// plaintext, to a self-signed impostor that the report marks
// not_attempted.
func TestAttackFleetDowngradeTestToImpostor(t *testing.T) {
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	peer := newHeardPeer(t, nil, certs.SelfSigned.TLS)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("PGUSER", "attackuser")
			t.Setenv("PGDATABASE", "attackdb")
			t.Setenv("SECUREPG_SSLROOTCERT", certs.CAFile)
			file := filepath.Join(t.TempDir(), "targets")
			if err := os.WriteFile(file, []byte("localhost:"+peer.port()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := rawCLI("probe", "--driver", testDriverName(), "--targets", file, "--timeout", "3s", "--json", "--downgrade-test")
			if !strings.Contains(r.out, `"not_attempted"`) {
				t.Fatalf("the impostor was not marked not_attempted:\n%s\n%s", r.out, r.errOut)
			}
			peer.mu.Lock()
			defer peer.mu.Unlock()
			for _, m := range peer.plain {
				if strings.Contains(m, "attackuser") {
					t.Fatalf("the unverified impostor heard the user name in plaintext: %q", m)
				}
			}
		})
	}
}
