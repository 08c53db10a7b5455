// Faults a running cluster can be put through: a restart, a reload, a
// rotated server certificate, a standby that is promoted when its primary
// stops, and a door in front of the server that can stop answering.

package lab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// logFile is where Start and StartStandby send the server's log.
func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "postgres.log") }

// ServerLog returns what the server has logged so far (log_min_messages =
// warning, plus LOG lines such as log_connections').
func (c *Cluster) ServerLog() ([]byte, error) { return os.ReadFile(c.logFile()) }

// Restart restarts the server with pg_ctl restart -m fast: sessions are
// terminated, and it returns once the server accepts connections again.
// Not for the Shared cluster, which other tests use at the same time.
func (c *Cluster) Restart(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "restart", "-m", "fast", "-w", "-t", "60", "-D", c.data, "-l", c.logFile()); err != nil {
		return fmt.Errorf("lab: pg_ctl restart: %w\n%s", err, out)
	}
	return nil
}

// Reload makes the server read its configuration files, TLS files and
// pg_hba.conf again (pg_ctl reload), and returns once a new session sees
// the new configuration: the postmaster signals nothing back, so Reload
// waits until pg_conf_load_time() of a new session is later than before.
func (c *Cluster) Reload(ctx context.Context) error {
	before, err := c.confLoadTime(ctx)
	if err != nil {
		return err
	}
	if out, err := c.run(ctx, "pg_ctl", "reload", "-D", c.data); err != nil {
		return fmt.Errorf("lab: pg_ctl reload: %w\n%s", err, out)
	}
	for {
		now, err := c.confLoadTime(ctx)
		if err != nil {
			return err
		}
		if now != before {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: waiting for the server to reload: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// confLoadTime is pg_conf_load_time() as a new session sees it: the time
// the postmaster last read its configuration, which new sessions inherit.
func (c *Cluster) confLoadTime(ctx context.Context) (string, error) {
	admin, err := c.Admin(ctx)
	if err != nil {
		return "", err
	}
	defer admin.Close(context.Background())
	res, err := admin.Exec(ctx, "SELECT pg_conf_load_time()::text").ReadAll()
	if err != nil {
		return "", fmt.Errorf("lab: pg_conf_load_time: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return "", errors.New("lab: pg_conf_load_time: no row")
	}
	return string(res[0].Rows[0][0]), nil
}

// RotateServerCertificate gives the server a new key and a new certificate
// for localhost, 127.0.0.1 and ::1, signed by the same lab CA and valid
// until notAfter (zero: 90 days from now), as cert-manager would: both
// files are replaced atomically (a rename over the old ones), then the
// server reloads. It returns once a TLS handshake with the server shows
// the new certificate, and sets c.Certs.Server to it (its CertFile and
// KeyFile are copies the client side may read). Sessions made before keep
// their TLS session.
func (c *Cluster) RotateServerCertificate(ctx context.Context, notAfter time.Time) (KeyPair, error) {
	if notAfter.IsZero() {
		notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	kp, certPEM, keyPEM, err := c.Certs.issueServer(notAfter)
	if err != nil {
		return KeyPair{}, err
	}
	serverTLS := filepath.Join(c.Dir, "server-tls")
	if err := c.replaceFile(filepath.Join(serverTLS, "server.key"), keyPEM); err != nil {
		return KeyPair{}, err
	}
	if err := c.replaceFile(filepath.Join(serverTLS, "server.crt"), certPEM); err != nil {
		return KeyPair{}, err
	}
	base := filepath.Join(c.Certs.Dir, "server-"+kp.Leaf.SerialNumber.Text(16))
	kp.CertFile, kp.KeyFile = base+".crt", base+".key"
	if err := os.WriteFile(kp.CertFile, certPEM, 0o644); err != nil {
		return KeyPair{}, fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(kp.KeyFile, keyPEM, 0o600); err != nil {
		return KeyPair{}, fmt.Errorf("lab: %w", err)
	}
	if err := c.Reload(ctx); err != nil {
		return KeyPair{}, err
	}
	// A certificate the server cannot load is logged and the old one kept:
	// check what it presents now.
	got, err := PresentedCertificate(ctx, c.Addr())
	if err != nil {
		return KeyPair{}, err
	}
	if !bytes.Equal(got.Raw, kp.Leaf.Raw) {
		return KeyPair{}, fmt.Errorf("lab: after the reload the server still presents certificate %s (see %s)", got.SerialNumber.Text(16), c.logFile())
	}
	c.Certs.Server = kp
	return kp, nil
}

// issueServer makes a server certificate for the loopback names, signed by
// the CA, and returns it with its PEM files.
func (c *Certs) issueServer(notAfter time.Time) (kp KeyPair, certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return kp, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return kp, nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial,
		Subject:  pkix.Name{CommonName: "server.securepg.test", Organization: []string{"securepg tests"}},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.CA, &key.PublicKey, c.caKey)
	if err != nil {
		return kp, nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return kp, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return kp, nil, nil, err
	}
	kp = KeyPair{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}
	return kp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// replaceFile writes data beside path, owned by the server's user and
// private to it, and renames it over path: a reader sees the old file or
// the new one, never half of one.
func (c *Cluster) replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = c.chown(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lab: replacing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// PresentedCertificate asks the server at addr for TLS the way a
// PostgreSQL client does (SSLRequest) and returns the certificate it
// presents, without verifying it.
func PresentedCertificate(ctx context.Context, addr string) (*x509.Certificate, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(sslRequest); err != nil {
		return nil, fmt.Errorf("lab: SSLRequest: %w", err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(conn, b); err != nil || b[0] != 'S' {
		return nil, fmt.Errorf("lab: the server at %s did not accept TLS (%q, %v)", addr, b, err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("lab: TLS handshake with %s: %w", addr, err)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("lab: the server at %s sent no certificate", addr)
	}
	return certs[0], nil
}

// StopFast stops the server with pg_ctl stop -m fast (sessions are
// terminated, a checkpoint is written) and keeps its files: Stop still
// removes them.
func (c *Cluster) StopFast(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-t", "60", "-D", c.data); err != nil {
		return fmt.Errorf("lab: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Gate relays raw TCP to upstream, like NewRelay, until Blackhole(true):
// from then on it accepts new connections and never answers them, as a
// server behind a dropped route or a silent firewall does to a client
// that already got through the TCP handshake. Blackhole(false) relays new
// connections again. Sessions relayed before Blackhole(true) go on.
type Gate struct {
	ln       net.Listener
	upstream string
	dark     atomic.Bool
	accepted atomic.Int64
	held     atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewGate listens on 127.0.0.1 and relays to upstream.
func NewGate(upstream string) (*Gate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &Gate{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	g.wg.Add(1)
	go g.serve()
	return g, nil
}

// Addr is 127.0.0.1:port.
func (g *Gate) Addr() string { return g.ln.Addr().String() }

// Port is the listening port.
func (g *Gate) Port() int { return g.ln.Addr().(*net.TCPAddr).Port }

// PortString is Port as a string.
func (g *Gate) PortString() string { return strconv.Itoa(g.Port()) }

// Blackhole makes new connections hang (true) or be relayed (false).
func (g *Gate) Blackhole(on bool) { g.dark.Store(on) }

// Accepted is the number of connections accepted so far.
func (g *Gate) Accepted() int64 { return g.accepted.Load() }

// Held is the number of connections being held without an answer now: a
// client that gave up and closed its socket is no longer counted.
func (g *Gate) Held() int64 { return g.held.Load() }

// Close stops the gate, closes every connection it holds or relays, and
// waits for them to end.
func (g *Gate) Close() error {
	err := g.ln.Close()
	g.mu.Lock()
	g.closed = true
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
	return err
}

// track registers c so that Close can end it; false if the gate closed.
func (g *Gate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Gate) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	c.Close()
}

func (g *Gate) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.accepted.Add(1)
		if !g.track(c) {
			c.Close()
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer g.untrack(c)
			if g.dark.Load() {
				g.held.Add(1)
				defer g.held.Add(-1)
				io.Copy(io.Discard, c) // silent until the client (or Close) ends it
				return
			}
			up, err := net.Dial("tcp", g.upstream)
			if err != nil {
				return
			}
			if !g.track(up) {
				up.Close()
				return
			}
			defer g.untrack(up)
			relay(c, up)
		}()
	}
}
