package securepg_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/telemetry"
)

// secretDir lays out a password the way a Kubernetes secret volume does:
// dir/password -> ..data/password, ..data -> ..<version>/, swapped by
// renaming a new ..data symlink over the old one.
type secretDir struct {
	t   *testing.T
	dir string
	n   int
}

func newSecretDir(t *testing.T, password string) *secretDir {
	s := &secretDir{t: t, dir: t.TempDir()}
	s.write(password)
	if err := os.Symlink(filepath.Join("..data", "password"), filepath.Join(s.dir, "password")); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *secretDir) path() string { return filepath.Join(s.dir, "password") }

// write publishes password atomically, as the kubelet does.
func (s *secretDir) write(password string) {
	s.n++
	version := fmt.Sprintf("..v%d", s.n)
	if err := os.Mkdir(filepath.Join(s.dir, version), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, version, "password"), []byte(password+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
}

var roleSeq atomic.Int64

// newRole creates a login role with password on the lab server.
func roleExists(admin *pgconn.PgConn, name string) bool {
	res, err := admin.Exec(context.Background(), "SELECT 1 FROM pg_roles WHERE rolname = '"+name+"'").ReadAll()
	return err == nil && len(res) == 1 && len(res[0].Rows) == 1
}

func newRole(t *testing.T, l *lab, name, password string) {
	t.Helper()
	admin, err := l.Admin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// The cluster is shared by the test binary's runs (go test -count=N):
	// a role left by an earlier run is dropped first.
	for _, q := range []string{
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM %s", l.Database, name),
		fmt.Sprintf("DROP ROLE IF EXISTS %s", name),
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", name, password),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", l.Database, name),
	} {
		if strings.HasPrefix(q, "REVOKE") && !roleExists(admin, name) {
			continue
		}
		if _, err := admin.Exec(context.Background(), q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
}

func alterPassword(t *testing.T, l *lab, role, password string) {
	t.Helper()
	admin, err := l.Admin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", role, password)).ReadAll(); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordFileRotationUnderLoad rotates the role's password and the
// secret file while queries run, each on a new connection: attempts that
// began before the new file was published may fail authentication (the
// old secret's last attempts); every attempt that began after must succeed,
// with no restart.
func TestPasswordFileRotationUnderLoad(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			role := fmt.Sprintf("rotator_%s_%d", drv, roleSeq.Add(1))
			newRole(t, l, role, "Zq7-first-"+drv)
			secret := newSecretDir(t, "Zq7-first-"+drv)
			t.Setenv("SECUREPG_PASSWORD_FILE", secret.path())
			dsn := "host=localhost port=" + l.relay.PortString() + " user=" + role + " dbname=" + l.Database +
				" sslmode=verify-full sslrootcert=" + l.Certs.CAFile
			db, err := sql.Open("securepg", dsn) // reads the policy, including the file's path, from the environment
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxIdleConns(0) // every query makes a new connection
			db.SetMaxOpenConns(4)

			var phase atomic.Int32 // 0 first password, 1 server rotated, 2 file rotated
			before, after := newCountdown(20), newCountdown(50)
			rejected := newCountdown(1)
			var nRejected atomic.Int64
			errs := make(chan error, 1024)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						started := phase.Load()
						var one int
						err := db.QueryRow("SELECT 1").Scan(&one)
						switch {
						case err == nil && started == 2:
							after.done()
						case err == nil:
							before.done()
						case started == 2 || telemetry.SQLState(err) != "28P01":
							errs <- fmt.Errorf("phase %d: %w", started, err)
						default: // the old secret's last attempts
							if nRejected.Add(1) <= 1 {
								rejected.done()
							}
						}
					}
				}()
			}
			<-before.reached
			phase.Store(1)
			alterPassword(t, l, role, "Zq7-second-"+drv)
			<-rejected.reached // the old secret is refused while the file still holds it
			secret.write("Zq7-second-" + drv)
			phase.Store(2)
			<-after.reached
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			t.Logf("%d attempts with the old secret were rejected during the rotation", nRejected.Load())
		})
	}
}

// countdown closes reached when done has been called n times.
type countdown struct {
	left    atomic.Int64
	reached chan struct{}
}

func newCountdown(n int64) *countdown {
	c := &countdown{reached: make(chan struct{})}
	c.left.Store(n)
	return c
}

func (c *countdown) done() {
	if c.left.Add(-1) == 0 {
		close(c.reached)
	}
}

// TestProviderRefreshOnAuthFailure: a caching provider hears that its
// credentials were rejected, and the fresh ones are tried at once.
func TestProviderRefreshOnAuthFailure(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			p := &cachingProvider{stale: "Zq7-stale", fresh: l.Password}
			c, err := securepg.NewConnector(l.noPassword(), withBackend(drv), securepg.WithLogger(discardLogger()), securepg.WithCredentials(p))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatalf("the refreshed credentials were not tried: %v", err)
			}
			if p.calls.Load() != 2 || p.failures.Load() != 1 {
				t.Fatalf("provider calls %d, failures %d", p.calls.Load(), p.failures.Load())
			}
		})
	}
}

type cachingProvider struct {
	stale, fresh    string
	invalid         atomic.Bool
	calls, failures atomic.Int32
}

func (p *cachingProvider) Credentials(context.Context, hooks.Attempt) (hooks.Credentials, error) {
	p.calls.Add(1)
	if p.invalid.Load() {
		return hooks.Credentials{Password: p.fresh}, nil
	}
	return hooks.Credentials{Password: p.stale}, nil
}

func (p *cachingProvider) AuthFailed(context.Context, hooks.Attempt) {
	p.failures.Add(1)
	p.invalid.Store(true)
}

// TestExpiringCredentialsRecycleConnections: a connection made with
// credentials that expire is not reused past them; the next query gets a
// new connection and new credentials.
func TestExpiringCredentialsRecycleConnections(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			var calls atomic.Int32
			p := hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
				calls.Add(1)
				return hooks.Credentials{Password: l.Password, Expires: time.Now()}, nil // expired once issued
			})
			c, err := securepg.NewConnector(l.noPassword(), withBackend(drv), securepg.WithLogger(discardLogger()), securepg.WithCredentials(p))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			db.SetMaxOpenConns(1)
			for range 3 {
				if err := db.Ping(); err != nil {
					t.Fatal(err)
				}
			}
			if n := calls.Load(); n != 3 {
				t.Fatalf("%d connections for 3 uses, want 3: expired connections were reused", n)
			}
			// Credentials without expiry: the connection is reused.
			calls.Store(0)
			c2, _ := securepg.NewConnector(l.noPassword(), withBackend(drv), securepg.WithLogger(discardLogger()), securepg.WithCredentials(hooks.CredentialFunc(
				func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
					calls.Add(1)
					return hooks.Credentials{Password: l.Password}, nil
				})))
			db2 := sql.OpenDB(c2)
			defer db2.Close()
			db2.SetMaxOpenConns(1)
			for range 3 {
				if err := db2.Ping(); err != nil {
					t.Fatal(err)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("%d connections, want 1", n)
			}
		})
	}
}

func TestForbidDSNPassword(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_FORBID_DSN_PASSWORD", "true")
			for _, dsn := range []string{
				l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
				l.url(l.relay, "sslmode=verify-full&sslrootcert="+l.Certs.CAFile),
				"postgres://localhost:" + l.relay.PortString() + "/" + l.Database + "?user=" + l.User + "&password=" + l.Password + "&sslmode=verify-full&sslrootcert=" + l.Certs.CAFile,
			} {
				_, err := sql.Open(driverName(drv), dsn)
				requireReason(t, err, securepg.ReasonPasswordInDSN)
			}
			// The password from the environment is not in the DSN.
			t.Setenv("PGPASSWORD", l.Password)
			db, err := sql.Open(driverName(drv), l.noPassword())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
