package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// heardPeer is a loopback PostgreSQL impostor: it answers the SSLRequest,
// completes TLS with the certificate of its n-th connection (the last one
// for every later connection) and records how many bytes each connection
// sent after the handshake (a startup message names the user), answering
// the first with an ErrorResponse so that clients stop at once.
type heardPeer struct {
	ln    net.Listener
	certs []tls.Certificate
	cfg   func(*tls.Config)
	wg    sync.WaitGroup
	// askPassword: answer a startup message with
	// AuthenticationCleartextPassword and record what follows in secrets.
	askPassword bool
	secrets     []string
	// plain: what each connection that sent no SSLRequest sent in
	// plaintext (a startup message names the user).
	plain []string

	mu    sync.Mutex
	conns int
	heard []int // per connection, in accept order
}

func newHeardPeer(t *testing.T, cfg func(*tls.Config), certs ...tls.Certificate) *heardPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &heardPeer{ln: ln, certs: certs, cfg: cfg}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			i := p.conns
			p.conns++
			p.heard = append(p.heard, 0)
			p.mu.Unlock()
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(i, c) }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *heardPeer) close() { p.ln.Close(); p.wg.Wait() }

func (p *heardPeer) port() string {
	return p.ln.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):]
}

func (p *heardPeer) serve(i int, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := make([]byte, 8)
	if _, err := io.ReadFull(c, req); err != nil {
		return
	}
	if !bytes.Equal(req, sslRequest) {
		b := make([]byte, 1<<16)
		n, _ := c.Read(b)
		p.mu.Lock()
		p.plain = append(p.plain, string(req)+string(b[:n]))
		p.mu.Unlock()
		return
	}
	if _, err := c.Write([]byte{'S'}); err != nil {
		return
	}
	cert := p.certs[min(i, len(p.certs)-1)]
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if p.cfg != nil {
		p.cfg(cfg)
	}
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	b := make([]byte, 1<<16)
	n, _ := tc.Read(b)
	p.mu.Lock()
	p.heard[i] += n
	p.mu.Unlock()
	if n > 0 && p.askPassword {
		tc.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3})
		m, _ := tc.Read(b)
		p.mu.Lock()
		p.secrets = append(p.secrets, string(b[:m]))
		p.mu.Unlock()
	}
	if n > 0 {
		// ErrorResponse: FATAL 28000.
		body := "SFATAL\x00C28000\x00Mno\x00\x00"
		msg := append([]byte{'E', 0, 0, 0, byte(4 + len(body))}, body...)
		tc.Write(msg)
	}
}

// heardAfter returns, per connection, the bytes heard after the handshake.
func (p *heardPeer) heardAll() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.heard...)
}

func attackCerts(t *testing.T) *lab.Certs {
	t.Helper()
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// TestAttackProbeStartupToPinMismatch: SECUREPG_PIN_SHA256 pins the real
// server's key; a certificate mis-issued by the trusted CA for the same
// name (the very threat pinning is for) must hear nothing, not even the
// user and database names: probe's own look (the authentication question)
// sent its startup message after verifying the chain and the host name
// only, without the pins.
func TestAttackProbeStartupToPinMismatch(t *testing.T) {
	certs := attackCerts(t)
	misissued, err := certs.Issue("localhost", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			peer := newHeardPeer(t, nil, misissued.TLS)
			t.Setenv("SECUREPG_PIN_SHA256", core.SPKIHash(certs.Server.Leaf))
			rep, r := probeJSON(t, "host=localhost port="+peer.port()+" user=attackuser dbname=attackdb sslmode=verify-full sslrootcert="+certs.CAFile)
			peer.close()
			if r.code == exitOK || rep.Policy.Reason != core.ReasonPinMismatch {
				t.Fatalf("exit %d: %+v", r.code, rep.Policy)
			}
			for i, n := range peer.heardAll() {
				if n != 0 {
					t.Fatalf("connection %d: a peer whose key is not pinned heard %d bytes (the startup message) after its handshake", i+1, n)
				}
			}
			// The fleet: refused for its pins (not "not verified"), and
			// nothing heard.
			fleetPeer := newHeardPeer(t, nil, misissued.TLS)
			fleetAttackEnv(t, certs)
			en := fleetOne(t, "localhost:"+fleetPeer.port(), "--downgrade-test")
			fleetPeer.close()
			if en.Verdict != "fail" || en.Policy.Outcome != "refused" || en.Policy.Reason != core.ReasonPinMismatch {
				t.Fatalf("fleet: %+v", en)
			}
			for i, n := range fleetPeer.heardAll() {
				if n != 0 {
					t.Fatalf("fleet connection %d: heard %d bytes", i+1, n)
				}
			}
			if len(fleetPeer.plain) != 0 {
				t.Fatalf("fleet: the downgrade test sent %q", fleetPeer.plain)
			}
		})
	}
}

// TestAttackProbeStartupOverClassical: under
// SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq no PostgreSQL byte may travel over a
// classical key exchange; probe's own look negotiated crypto/tls's default
// (TLS 1.2, ECDHE here) and sent its startup message on it.
func TestAttackProbeStartupOverClassical(t *testing.T) {
	certs := attackCerts(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			peer := newHeardPeer(t, func(c *tls.Config) {
				c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
			}, certs.Server.TLS)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			rep, r := probeJSON(t, "host=localhost port="+peer.port()+" user=attackuser dbname=attackdb sslmode=verify-full sslrootcert="+certs.CAFile)
			peer.close()
			if r.code == exitOK || rep.Policy.Reason != core.ReasonKeyExchangeClassical {
				t.Fatalf("exit %d: %+v", r.code, rep.Policy)
			}
			for i, n := range peer.heardAll() {
				if n != 0 {
					t.Fatalf("connection %d: %d bytes (the startup message) went over a classical key exchange under hybrid-pq", i+1, n)
				}
			}
			fleetPeer := newHeardPeer(t, func(c *tls.Config) {
				c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
			}, certs.Server.TLS)
			fleetAttackEnv(t, certs)
			en := fleetOne(t, "localhost:"+fleetPeer.port())
			fleetPeer.close()
			if en.Verdict != "fail" || en.Policy.Reason != core.ReasonKeyExchangeClassical {
				t.Fatalf("fleet: %+v", en.Policy)
			}
			for i, n := range fleetPeer.heardAll() {
				if n != 0 {
					t.Fatalf("fleet connection %d: heard %d bytes", i+1, n)
				}
			}
		})
	}
}

// TestAttackFleetCertificateSwitch: probe --targets promises no user name
// to a server whose certificate fails verification of its chain and host
// name, whatever the policy accepts. A peer that shows a good certificate
// to the fleet's own look, then a certificate for another name (same CA)
// to the connection through a require policy, hears the startup message
// of that connection.
func TestAttackFleetCertificateSwitch(t *testing.T) {
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
			r := probeTargets(t, "localhost:"+peer.port())
			peer.close()
			// The connection through the policy is held to the key the
			// look verified: the other certificate is refused for it.
			if r.code != exitRefused || !strings.Contains(r.out, `"verdict":"fail"`) || !strings.Contains(r.out, core.ReasonPinMismatch) {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
			heard := peer.heardAll()
			peer.mu.Lock()
			for _, sec := range peer.secrets {
				if strings.Contains(sec, "fleetsecret") {
					t.Errorf("the password reached the peer (%d bytes heard; not shown)", len(sec))
				}
			}
			peer.mu.Unlock()
			for i, n := range heard {
				if i > 0 && n != 0 {
					t.Fatalf("connection %d (certificate for another name): heard %d bytes after its handshake; fleet output:\n%s\n%s", i+1, n, r.out, strings.TrimSpace(r.errOut))
				}
			}
		})
	}
}

// TestAttackFleetSecondHost: probe --targets looks at (and verifies in
// full) only the first TCP host of a multi-host DSN; its connection
// through a require policy may end at another host that nothing
// verified in full, which hears the user name (and the password, when
// it asks for one).
func TestAttackFleetSecondHost(t *testing.T) {
	certs := attackCerts(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			first := newHeardPeer(t, nil, certs.Server.TLS, certs.SelfSigned.TLS)
			second := newHeardPeer(t, nil, certs.WrongHost.TLS)
			second.askPassword = true
			t.Setenv("PGPASSWORD", "fleetsecret")
			fleetAttackEnv(t, certs)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			r := probeTargets(t, "host=localhost,localhost port="+first.port()+","+second.port()+" sslmode=require")
			first.close()
			second.close()
			if r.code != exitRefused || !strings.Contains(r.out, `"verdict":"fail"`) {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
			second.mu.Lock()
			defer second.mu.Unlock()
			for _, sec := range second.secrets {
				if strings.Contains(sec, "fleetsecret") {
					t.Errorf("the password reached the second host (%d bytes heard; not shown)", len(sec))
				}
			}
			for i, n := range second.heard {
				if n != 0 {
					t.Errorf("connection %d to the second host (certificate for another name): heard %d bytes; fleet output:\n%s", i+1, n, r.out)
				}
			}
		})
	}
}

// fleetAttackEnv is the environment of the fleet attacks' probe
// --targets: the user attackuser and the database attackdb, certificates
// verified against certs' CA.
func fleetAttackEnv(t *testing.T, certs *lab.Certs) {
	t.Setenv("PGUSER", "attackuser")
	t.Setenv("PGDATABASE", "attackdb")
	t.Setenv("SECUREPG_SSLROOTCERT", certs.CAFile)
}

// probeTargets runs probe --targets --json --timeout 5s (then args) on a
// targets file of the one line.
func probeTargets(t *testing.T, line string, args ...string) result {
	t.Helper()
	file := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cli(t, "", append([]string{"probe", "--targets", file, "--json", "--timeout", "5s"}, args...)...)
}

// fleetOne runs probe --targets --json on one line and returns its entry.
func fleetOne(t *testing.T, line string, args ...string) fleetEntry {
	t.Helper()
	r := probeTargets(t, line, args...)
	var en fleetEntry
	if err := json.Unmarshal([]byte(strings.SplitN(r.out, "\n", 2)[0]), &en); err != nil {
		t.Fatalf("%v: %s %s", err, r.out, r.errOut)
	}
	return en
}
