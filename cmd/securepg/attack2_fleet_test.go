package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestAttack2FleetHoldInAuditMode: probe --targets holds its connection
// through the policy to the key its look verified with a pin, so that a
// certificate switch (the same CA's certificate for another name) is
// refused before it hears anything (docs/cli.md). A pin mismatch is not a
// hard violation: under SECUREPG_MODE=audit it is audited, and the switched
// server hears the startup message (the user name) and the password.
func TestAttack2FleetHoldInAuditMode(t *testing.T) {
	certs := attackCerts(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			peer := newHeardPeer(t, nil, certs.Server.TLS, certs.WrongHost.TLS)
			peer.askPassword = true
			t.Setenv("PGPASSWORD", "fleetsecret")
			t.Setenv("PGUSER", "attackuser")
			t.Setenv("PGDATABASE", "attackdb")
			t.Setenv("SECUREPG_SSLROOTCERT", certs.CAFile)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_MODE", "audit")
			file := filepath.Join(t.TempDir(), "targets")
			if err := os.WriteFile(file, []byte("localhost:"+peer.port()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := cli(t, "", "probe", "--targets", file, "--json", "--timeout", "5s")
			peer.close()
			heard := peer.heardAll()
			peer.mu.Lock()
			defer peer.mu.Unlock()
			for _, sec := range peer.secrets {
				if strings.Contains(sec, "fleetsecret") {
					t.Errorf("the password reached the switched certificate's server: %q", sec)
				}
			}
			for i, n := range heard {
				if i > 0 && n != 0 {
					t.Fatalf("connection %d (certificate for another name): heard %d bytes after its handshake; fleet output:\n%s\n%s", i+1, n, r.out, strings.TrimSpace(r.errOut))
				}
			}
		})
	}
}
