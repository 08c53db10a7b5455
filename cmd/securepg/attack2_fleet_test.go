package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/internal/core"

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
			fleetAttackEnv(t, certs)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_MODE", "audit")
			r := probeTargets(t, "localhost:"+peer.port())
			peer.close()
			heard := peer.heardAll()
			peer.mu.Lock()
			defer peer.mu.Unlock()
			for _, sec := range peer.secrets {
				if strings.Contains(sec, "fleetsecret") {
					t.Errorf("the password reached the switched certificate's server (%d bytes heard; not shown)", len(sec))
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

// TestAttack2FleetUnixSocketFirst: probe --targets looks at (and verifies
// in full) a multi-host DSN's first TCP host only. With unix sockets
// allowed, a socket host listed before it is where the connection through
// the policy goes first: it verifies no certificate, the pin hold does not
// apply to it, and whatever listens on that socket hears the user name
// and the password. docs/cli.md: a target whose connection would verify no
// certificate is not_attempted.
func TestAttack2FleetUnixSocketFirst(t *testing.T) {
	certs := attackCerts(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			peer := newHeardPeer(t, nil, certs.Server.TLS)
			dir, err := os.MkdirTemp("", "sock")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL."+peer.port()))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			heard := make(chan string, 4)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						c.SetDeadline(time.Now().Add(5 * time.Second))
						b := make([]byte, 4096)
						n, _ := c.Read(b)
						c.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}) // cleartext password, please
						m, _ := c.Read(b[n:])
						heard <- string(b[:n+m])
					}()
				}
			}()
			t.Setenv("PGPASSWORD", "fleetsecret")
			fleetAttackEnv(t, certs)
			t.Setenv("SECUREPG_ALLOW_UNIX_SOCKET", "true")
			r := probeTargets(t, "host="+dir+",localhost port="+peer.port()+","+peer.port()+" sslmode=verify-full")
			select {
			case h := <-heard:
				t.Fatalf("the socket, never verified, heard %q; fleet output:\n%s\n%s", h, r.out, r.errOut)
			default:
			}
		})
	}
}

// TestAttack2FleetHoldWithPinFile: the hold replaces the policy's pins by
// the look's key; with SECUREPG_PIN_SHA256_FILE set, the connection through
// the policy must still be made (not fail on "both set").
func TestAttack2FleetHoldWithPinFile(t *testing.T) {
	certs := attackCerts(t)
	labtest.IsolateEnv(t)
	peer := newHeardPeer(t, nil, certs.Server.TLS)
	pins := filepath.Join(t.TempDir(), "pins")
	os.WriteFile(pins, []byte(core.SPKIHash(certs.Server.Leaf)+"\n"), 0o600)
	t.Setenv("PGUSER", "attackuser")
	t.Setenv("SECUREPG_SSLROOTCERT", certs.CAFile)
	t.Setenv("SECUREPG_PIN_SHA256_FILE", pins)
	r := probeTargets(t, "localhost:"+peer.port())
	peer.close()
	// The peer answers every startup with FATAL 28000: the connection
	// through the policy reached it.
	if strings.Contains(r.out, "both set") || !strings.Contains(r.out, `"policy":{"outcome":"error","error":"failed to connect`) || !strings.Contains(r.out, "28000") {
		t.Fatalf("the connection through the policy was not made: %v\n%s\n%s", peer.heardAll(), r.out, r.errOut)
	}
}
