// A PgBouncer in front of a lab cluster: a connection pooler that
// terminates the client's TLS and opens its own connection to the server.

package lab

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoPgBouncer means the pgbouncer binary is not installed.
var ErrNoPgBouncer = errors.New("lab: pgbouncer not found; install the pgbouncer package (apt-get install -y pgbouncer)")

// FindPgBouncer locates the pgbouncer binary: PATH first, then
// /usr/sbin (where the Debian package puts it, outside a user's PATH).
func FindPgBouncer() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", ErrNoPgBouncer
}

// PgBouncerConfig says how StartPgBouncer configures the pooler.
type PgBouncerConfig struct {
	// ServerTLSMode is server_tls_sslmode, how the pooler connects to the
	// server: "disable", "require", "verify-full", ... "" is
	// "verify-full" against the lab's CA.
	ServerTLSMode string
	// Cert is the certificate the pooler shows its clients; nil is one of
	// its own, issued by the lab CA to PgBouncerCN for localhost,
	// 127.0.0.1 and ::1 (so that a client can tell it from the server's).
	// Certs.SelfSigned or Certs.WrongHost make an impostor pooler. A
	// KeyPair without files (from Certs.Issue) is written out.
	Cert *KeyPair
	// PoolMode is pool_mode: "session" (the default), "transaction" or
	// "statement".
	PoolMode string
	// AuthType is auth_type, how the pooler logs its clients in:
	// "scram-sha-256" (the default; SCRAM without channel binding, as
	// PgBouncer offers no SCRAM-SHA-256-PLUS), "md5" or "plain" (the
	// password in cleartext). Under md5 and plain its auth_file holds the
	// password itself, which it also uses to log in to the server.
	AuthType string
}

// PgBouncer is a running PgBouncer on 127.0.0.1 in front of a Cluster. It
// requires TLS from its clients (client_tls_sslmode=require) and, by
// default, logs them in with SCRAM-SHA-256 against the cluster's own
// secret for its User, which it then uses to log in to the server: the
// password is the cluster's. Only the cluster's Database is served.
type PgBouncer struct {
	Dir           string // its configuration, certificate and log; removed by Stop
	Host          string // 127.0.0.1
	Port          int
	ServerTLSMode string  // server_tls_sslmode, as configured
	AuthType      string  // auth_type, as configured
	Cert          KeyPair // what it shows its clients

	cluster *Cluster
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has ended
	waitErr error         // the process's exit, once exited is closed
	stop    sync.Once
	stopErr error
}

// StartPgBouncer starts a PgBouncer on a free port of 127.0.0.1 in front of
// c, and returns when it accepts connections. ctx bounds the start, not
// the pooler's life: Stop ends it. As root, it runs as c's server user
// (PgBouncer refuses to run as root).
func StartPgBouncer(ctx context.Context, c *Cluster, cfg PgBouncerConfig) (*PgBouncer, error) {
	bin, err := FindPgBouncer()
	if err != nil {
		return nil, err
	}
	if cfg.ServerTLSMode == "" {
		cfg.ServerTLSMode = "verify-full"
	}
	if cfg.PoolMode == "" {
		cfg.PoolMode = "session"
	}
	switch cfg.AuthType {
	case "":
		cfg.AuthType = "scram-sha-256"
	case "scram-sha-256", "md5", "plain":
	default:
		return nil, fmt.Errorf("lab: pgbouncer auth_type %q: want scram-sha-256, md5 or plain", cfg.AuthType)
	}
	var cert KeyPair
	if cfg.Cert != nil {
		cert = *cfg.Cert
	} else {
		loop := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
		if cert, err = c.Certs.Issue(PgBouncerCN, []string{"localhost"}, loop); err != nil {
			return nil, err
		}
	}
	certPEM, keyPEM, err := cert.pem()
	if err != nil {
		return nil, err
	}
	// Under md5 and plain the pooler needs the password itself: with a
	// SCRAM secret in auth_file it would log its clients in with SCRAM
	// whatever auth_type says.
	secret := c.Password
	if cfg.AuthType == "scram-sha-256" {
		if secret, err = c.scramSecret(ctx, c.User); err != nil {
			return nil, err
		}
	}
	b := &PgBouncer{Host: "127.0.0.1", ServerTLSMode: cfg.ServerTLSMode, AuthType: cfg.AuthType, Cert: cert, cluster: c, exited: make(chan struct{})}
	if b.Dir, err = os.MkdirTemp("", "securepg-pgbouncer-"); err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			b.Stop()
		}
	}()
	if err := os.Chmod(b.Dir, 0o755); err != nil {
		return nil, err
	}
	if b.Port, err = freePort(); err != nil {
		return nil, err
	}
	files := map[string][]byte{"client.crt": certPEM, "client.key": keyPEM}
	if files["ca.crt"], err = os.ReadFile(c.Certs.CAFile); err != nil {
		return nil, err
	}
	// Under scram-sha-256, userlist.txt holds the SCRAM secret, not the
	// password: PgBouncer verifies the client's proof with it, and logs in
	// to the server with the keys the client's proof reveals (it can, as
	// the secrets match).
	files["userlist.txt"] = []byte(fmt.Sprintf("%q %q\n", c.User, secret))
	path := func(name string) string { return filepath.Join(b.Dir, name) }
	files["pgbouncer.ini"] = []byte(fmt.Sprintf(`[databases]
%s = host=127.0.0.1 port=%d dbname=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = %s
auth_file = %s
pool_mode = %s
max_client_conn = 100
default_pool_size = 10
ignore_startup_parameters = extra_float_digits
client_tls_sslmode = require
client_tls_cert_file = %s
client_tls_key_file = %s
server_tls_sslmode = %s
server_tls_ca_file = %s
`, c.Database, c.Port, c.Database, b.Port, cfg.AuthType, path("userlist.txt"), cfg.PoolMode,
		path("client.crt"), path("client.key"), cfg.ServerTLSMode, path("ca.crt")))
	for name, data := range files {
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			return nil, err
		}
		if err := c.chown(path(name)); err != nil {
			return nil, err
		}
	}
	logFile, err := os.OpenFile(path("pgbouncer.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	// Not CommandContext: ctx bounds the start only.
	b.cmd = exec.Command(bin, path("pgbouncer.ini"))
	b.cmd.Dir = b.Dir
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if c.runAs != "" {
		u, err := user.Lookup(c.runAs)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := b.cmd.Start(); err != nil {
		b.cmd = nil
		return nil, fmt.Errorf("lab: pgbouncer: %w", err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.ready(ctx); err != nil {
		return nil, err
	}
	started = true
	return b, nil
}

// PgBouncerCN is the common name of the certificate a PgBouncer shows its
// clients by default.
const PgBouncerCN = "pgbouncer.securepg.test"

// pem is the certificate and key in PEM: the files', or made from TLS.
func (k KeyPair) pem() (cert, key []byte, err error) {
	if k.CertFile != "" {
		if cert, err = os.ReadFile(k.CertFile); err != nil {
			return nil, nil, err
		}
		key, err = os.ReadFile(k.KeyFile)
		return cert, key, err
	}
	if len(k.TLS.Certificate) == 0 {
		return nil, nil, errors.New("lab: a key pair with neither files nor a certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.TLS.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	for _, c := range k.TLS.Certificate {
		cert = append(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// scramSecret is the role's SCRAM-SHA-256 secret as the server stores it.
func (c *Cluster) scramSecret(ctx context.Context, role string) (string, error) {
	admin, err := c.Admin(ctx)
	if err != nil {
		return "", err
	}
	defer admin.Close(context.Background())
	res := admin.ExecParams(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", [][]byte{[]byte(role)}, nil, nil, nil).Read()
	if res.Err != nil {
		return "", fmt.Errorf("lab: reading %s's secret: %w", role, res.Err)
	}
	if len(res.Rows) != 1 || !bytes.HasPrefix(res.Rows[0][0], []byte("SCRAM-SHA-256$")) {
		return "", fmt.Errorf("lab: role %s has no SCRAM secret", role)
	}
	return string(res.Rows[0][0]), nil
}

// ready polls until the pooler accepts a TCP connection, the process
// ends, or ctx does.
func (b *PgBouncer) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", b.Addr())
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("lab: pgbouncer exited while starting (%v):\n%s", b.waitErr, b.Log())
		case <-ctx.Done():
			return fmt.Errorf("lab: pgbouncer did not accept connections on %s: %w\n%s", b.Addr(), ctx.Err(), b.Log())
		case <-tick.C:
		}
	}
}

// Addr is 127.0.0.1:port.
func (b *PgBouncer) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

// PortString is Port as a string.
func (b *PgBouncer) PortString() string { return strconv.Itoa(b.Port) }

// DSN returns a keyword/value DSN for the cluster's password role through
// the pooler (host=localhost, the pooler's port), with extra settings
// appended.
func (b *PgBouncer) DSN(extra ...string) string {
	c := b.cluster
	parts := []string{"host=localhost", "port=" + b.PortString(), "user=" + c.User, "password=" + c.Password, "dbname=" + c.Database}
	return strings.Join(append(parts, extra...), " ")
}

// Log is what PgBouncer logged so far (its secrets are not in it: under
// scram-sha-256 the password never reaches it, only SCRAM proofs, and it
// does not log the password md5 and plain give it). Each client it logged
// in has a "login attempt" line.
func (b *PgBouncer) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "pgbouncer.log"))
	return string(data)
}

// Stop ends the pooler (SIGTERM, then SIGKILL after ten seconds) and
// removes its files. It may be called more than once.
func (b *PgBouncer) Stop() error {
	b.stop.Do(func() {
		if b.cmd != nil {
			b.cmd.Process.Signal(syscall.SIGTERM)
			timer := time.NewTimer(10 * time.Second)
			select {
			case <-b.exited:
			case <-timer.C:
				b.cmd.Process.Kill()
				<-b.exited
			}
			timer.Stop()
		}
		if b.Dir != "" {
			b.stopErr = os.RemoveAll(b.Dir)
		}
	})
	return b.stopErr
}
