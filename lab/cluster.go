package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Cluster is a running PostgreSQL with ssl=on.
type Cluster struct {
	Dir       string // everything the cluster owns; removed by Stop
	Host      string // 127.0.0.1
	Port      int
	SocketDir string
	Certs     *Certs

	User     string // a role that logs in with a SCRAM password
	Password string // also MD5User's
	Database string
	Version  string // server_version, e.g. "15.14 (Debian 15.14-0+deb12u1)" or "18.4"
	Major    int    // the server's major version, e.g. 15 or 18

	binDir string
	runAs  string // "postgres" when we are root, else ""
	data   string
}

// Options say how StartWith starts a cluster.
type Options struct {
	// BinDir holds initdb, pg_ctl and postgres; "" is FindBinDir's.
	BinDir string
	// Port is the port on 127.0.0.1 the server listens on; 0 is one that
	// is free when the cluster starts.
	Port int
	// Progress, if not nil, is told what is happening.
	Progress func(string)
}

// Start initialises and starts a cluster in a new temporary directory from
// the system's binaries (FindBinDir). The progress function, if not nil,
// is told what is happening.
func Start(ctx context.Context, progress func(string)) (*Cluster, error) {
	return StartWith(ctx, Options{Progress: progress})
}

// StartWith initialises and starts a cluster in a new temporary directory
// as opts say: the same configuration (ssl=on, the SCRAM, MD5 and
// certificate roles) whatever the server's version.
//
// When the start fails, or ctx is done before it ends, StartWith stops
// what it started and removes what it made before it returns the error.
// A program's failure is a *ToolError that carries what initdb, pg_ctl
// or the server's log said; an interruption wraps ctx's error
// (errors.Is(err, context.Canceled)).
func StartWith(ctx context.Context, opts Options) (*Cluster, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx, progress); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	return c, nil
}

// newCluster checks the binaries and the server user; it makes nothing.
func newCluster(opts Options) (*Cluster, error) {
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("lab: %s not found in %s", name, bin)
		}
	}
	c := &Cluster{Host: "127.0.0.1", Port: opts.Port, binDir: bin, User: "securepg", Database: "securepg"}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("lab: running as root needs a 'postgres' user to run the server (the postgresql package creates it)")
		}
		c.runAs = "postgres"
	}
	return c, nil
}

// start makes the cluster step by step, checking ctx before each step.
// It leaves what it made when it fails: StartWith's Stop removes it.
func (c *Cluster) start(ctx context.Context, progress func(string)) error {
	step := func(say string) error {
		if say != "" {
			progress(say)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lab: start interrupted: %w", context.Cause(ctx))
		}
		return nil
	}
	if err := step(""); err != nil {
		return err
	}
	serverTLS, err := c.makeDirs()
	if err != nil {
		return err
	}
	if err := step("generating a CA and certificates"); err != nil {
		return err
	}
	if err := c.makeCerts(serverTLS); err != nil {
		return err
	}
	if err := step("initdb " + c.data); err != nil {
		return err
	}
	if err := c.tool(ctx, "initdb", nil, "initdb", "-D", c.data, "-U", "postgres", "-E", "UTF8", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256"); err != nil {
		return err
	}
	if err := c.configure(serverTLS); err != nil {
		return err
	}
	if err := step(fmt.Sprintf("starting postgres on 127.0.0.1:%d with ssl=on", c.Port)); err != nil {
		return err
	}
	if err := c.startServer(ctx); err != nil {
		return err
	}
	if err := step("creating roles " + c.User + " (SCRAM password), " + MD5User + " (MD5 password), " +
		ClientCN + " (client certificate) and " + SuperUser + " (a superuser)"); err != nil {
		return err
	}
	return c.setup(ctx)
}

// makeDirs makes the cluster's directory, traversable by the server user,
// and its data, socket, server TLS and client certificate folders.
func (c *Cluster) makeDirs() (serverTLS string, err error) {
	if c.Dir, err = os.MkdirTemp("", "securepg-pg-"); err != nil {
		return "", err
	}
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		return "", err
	}
	c.data = filepath.Join(c.Dir, "data")
	c.SocketDir = filepath.Join(c.Dir, "sock")
	serverTLS = filepath.Join(c.Dir, "server-tls")
	for _, d := range []string{c.data, c.SocketDir, serverTLS, filepath.Join(c.Dir, "certs")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", err
		}
	}
	return serverTLS, nil
}

// makeCerts generates the CA and certificates in the certs folder, which
// stays ours, and gives the server its own copies.
func (c *Cluster) makeCerts(serverTLS string) error {
	clientTLS := filepath.Join(c.Dir, "certs")
	var err error
	if c.Certs, err = GenerateCerts(clientTLS); err != nil {
		return err
	}
	if err := os.Chmod(clientTLS, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{
		c.Certs.Server.CertFile: "server.crt", c.Certs.Server.KeyFile: "server.key", c.Certs.CAFile: "ca.crt",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(serverTLS, dst), b, 0o600); err != nil {
			return err
		}
	}
	if err := c.chown(c.data, c.SocketDir, serverTLS, filepath.Join(serverTLS, "server.crt"),
		filepath.Join(serverTLS, "server.key"), filepath.Join(serverTLS, "ca.crt")); err != nil {
		return err
	}
	c.Password = randomHex(12)
	if c.Port == 0 {
		c.Port, err = freePort()
	}
	return err
}

// configure writes the server's settings and pg_hba.conf after initdb.
func (c *Cluster) configure(serverTLS string) error {
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
ssl = on
ssl_cert_file = '%s'
ssl_key_file = '%s'
ssl_ca_file = '%s'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
shared_buffers = 16MB
log_min_messages = warning
`, c.Port, c.SocketDir, filepath.Join(serverTLS, "server.crt"), filepath.Join(serverTLS, "server.key"), filepath.Join(serverTLS, "ca.crt"))
	if err := appendFile(filepath.Join(c.data, "postgresql.conf"), conf); err != nil {
		return err
	}
	hba := fmt.Sprintf(`local all all trust
hostssl all %s 127.0.0.1/32 cert
host all %s 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
`, ClientCN, MD5User)
	if err := os.WriteFile(filepath.Join(c.data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	return c.chown(filepath.Join(c.data, "pg_hba.conf"))
}

// startServer starts postgres with pg_ctl and waits until it is ready.
func (c *Cluster) startServer(ctx context.Context) error {
	if err := os.WriteFile(c.logFile(), nil, 0o644); err != nil {
		return err
	}
	if err := c.chown(c.logFile()); err != nil {
		return err
	}
	return c.tool(ctx, "pg_ctl start", []string{c.logFile()}, "pg_ctl", "start", "-w", "-t", "60", "-D", c.data, "-l", c.logFile())
}

func (c *Cluster) setup(ctx context.Context) error {
	admin, err := c.Admin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	stmts := []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", c.User, c.Password),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", c.Database, c.User),
		fmt.Sprintf("CREATE ROLE %s LOGIN", ClientCN),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", c.Database, ClientCN),
		"SET password_encryption = 'md5'",
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", MD5User, c.Password),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", c.Database, MD5User),
		"SET password_encryption = 'scram-sha-256'",
		fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER CREATEROLE CREATEDB BYPASSRLS REPLICATION PASSWORD '%s'", SuperUser, c.Password),
	}
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s).ReadAll(); err != nil {
			return fmt.Errorf("lab: setup: %w", err)
		}
	}
	res, err := admin.Exec(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')").ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		return fmt.Errorf("lab: reading the server's version: %v", err)
	}
	c.Version = string(res[0].Rows[0][0])
	num, err := strconv.Atoi(string(res[0].Rows[0][1]))
	if err != nil {
		return fmt.Errorf("lab: server_version_num %q: %w", res[0].Rows[0][1], err)
	}
	c.Major = num / 10000
	return nil
}

// SuperUser is a superuser role that logs in over TCP with a SCRAM
// password (Password, as User's): what a service should not connect as.
const SuperUser = "securepg_super" // SUPERUSER CREATEROLE CREATEDB BYPASSRLS REPLICATION

// MD5User is a role whose password is stored as MD5 (Password, as
// User's) and which pg_hba.conf lets log in with md5: what servers
// upgraded from before PostgreSQL 14 still have.
const MD5User = "securepg_md5"

// Admin connects as the superuser through the unix socket (trust auth).
// The test lab's own plumbing: it does not go through securepg.
func (c *Cluster) Admin(ctx context.Context) (*pgconn.PgConn, error) {
	return pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", c.SocketDir, c.Port))
}

// Addr is 127.0.0.1:port.
func (c *Cluster) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// DSN returns a keyword/value DSN for the password role with extra
// settings appended, e.g. DSN("sslmode=verify-full", "sslrootcert="+ca).
func (c *Cluster) DSN(extra ...string) string {
	parts := []string{"host=localhost", "port=" + strconv.Itoa(c.Port), "user=" + c.User, "password=" + c.Password, "dbname=" + c.Database}
	return strings.Join(append(parts, extra...), " ")
}

// stopTimeout bounds Stop.
const stopTimeout = 60 * time.Second

// Stop stops the server, waits for its process to exit, and removes
// everything the cluster made. It may be called more than once, and on a
// nil *Cluster.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.data != "" {
		if pid := postmasterPID(c.data); pid != 0 {
			watch, err := watchProcess(pid)
			errs = append(errs, err)
			ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			err = c.tool(ctx, "pg_ctl stop", nil, "pg_ctl", "stop", "-m", "immediate", "-w", "-D", c.data)
			cancel()
			if err != nil {
				watch.close()
				errs = append(errs, err)
			} else {
				errs = append(errs, watch.wait(stopTimeout))
			}
		}
	}
	if c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (it crashes the program where it would)
	return hex.EncodeToString(b)
}
