package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newVolume(t *testing.T, files map[string][]byte) *pglab.SecretVolume {
	t.Helper()
	v, err := pglab.NewSecretVolume(t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func publish(t *testing.T, v *pglab.SecretVolume, files map[string][]byte) {
	t.Helper()
	if err := v.Publish(files); err != nil {
		t.Fatal(err)
	}
}

// TestCABundleRotation: the server moves to a certificate from a new CA,
// and the CA bundle file is rotated (a Kubernetes secret volume's ..data
// swap) while the service keeps its *sql.DB. New connections verify the
// new server with the new bundle at once, with no restart and no failed
// connection; a connection made before keeps working; the old CA is no
// longer trusted. Both backends, with the bundle named by the DSN and by
// SECUREPG_SSLROOTCERT.
func TestCABundleRotation(t *testing.T) {
	l := getLab(t)
	oldCA := l.Certs
	newCA, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, from := range []string{"DSN", "SECUREPG_SSLROOTCERT"} {
			t.Run(drv+"/"+from, func(t *testing.T) {
				isolateEnv(t)
				var serving atomic.Pointer[tls.Certificate]
				serving.Store(&oldCA.Server.TLS)
				front, err := pglab.NewTLSFront(l.Addr(), func() *tls.Certificate { return serving.Load() })
				if err != nil {
					t.Fatal(err)
				}
				defer front.Close()
				vol := newVolume(t, map[string][]byte{"ca.crt": readFile(t, oldCA.CAFile)})
				dsn := l.at(front, "sslmode=verify-full")
				if from == "DSN" {
					dsn += " sslrootcert=" + vol.Path("ca.crt")
				} else {
					t.Setenv("SECUREPG_SSLROOTCERT", vol.Path("ca.crt"))
				}
				var verified atomic.Int32
				c, err := securepg.NewConnector(dsn, withBackend(drv), securepg.WithLogger(discardLogger()),
					securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
						if ci.Verification == "verify-full" {
							verified.Add(1)
						}
						return nil
					}}))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				db.SetMaxIdleConns(0) // every db.Conn below is a new connection
				ctx := context.Background()
				before, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer before.Close()

				// The rotation: new CA in the bundle, new certificate on
				// the server.
				publish(t, vol, map[string][]byte{"ca.crt": readFile(t, newCA.CAFile)})
				serving.Store(&newCA.Server.TLS)
				for i := range 3 {
					conn, err := db.Conn(ctx)
					if err != nil {
						t.Fatalf("new connection %d after the rotation: %v", i, err)
					}
					if err := conn.PingContext(ctx); err != nil {
						t.Fatal(err)
					}
					conn.Close()
				}
				if err := before.PingContext(ctx); err != nil {
					t.Fatalf("a connection made before the rotation: %v", err)
				}
				if n := verified.Load(); n != 4 {
					t.Fatalf("%d verify-full connections, want 4", n)
				}
				// The old CA is no longer trusted: a server still showing
				// its certificate is refused.
				serving.Store(&oldCA.Server.TLS)
				conn, err := db.Conn(ctx)
				if err == nil {
					conn.Close()
					t.Fatal("the rotated-out CA is still trusted")
				}
				requireReason(t, err, securepg.ReasonCertificateUntrusted)
			})
		}
	}
}

// TestClientCertificateRotation: the client certificate and key are
// rotated together (one ..data swap) while the service keeps its *sql.DB;
// new connections present the new certificate (the server's pg_stat_ssl
// shows its serial) within a couple of seconds, and no connection fails
// meanwhile. Both backends, from the DSN and from SECUREPG_SSLCERT/KEY.
func TestClientCertificateRotation(t *testing.T) {
	labtest.Slow(t, "waits for the once-a-second look at the files")
	l := getLab(t)
	next, err := l.Certs.IssueClient(pglab.ClientCN)
	if err != nil {
		t.Fatal(err)
	}
	files := func(certPEM, keyPEM []byte) map[string][]byte {
		return map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, from := range []string{"DSN", "SECUREPG_SSLCERT"} {
			t.Run(drv+"/"+from, func(t *testing.T) {
				isolateEnv(t)
				vol := newVolume(t, files(readFile(t, l.Certs.Client.CertFile), readFile(t, l.Certs.Client.KeyFile)))
				dsn := "host=localhost port=" + l.relay.PortString() + " user=" + pglab.ClientCN + " dbname=" + l.Database +
					" sslmode=verify-full sslrootcert=" + l.Certs.CAFile
				if from == "DSN" {
					dsn += " sslcert=" + vol.Path("tls.crt") + " sslkey=" + vol.Path("tls.key")
				} else {
					t.Setenv("SECUREPG_SSLCERT", vol.Path("tls.crt"))
					t.Setenv("SECUREPG_SSLKEY", vol.Path("tls.key"))
				}
				db, err := sql.Open("securepg", dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				db.SetMaxIdleConns(0) // every query on a new connection
				serial := func() string {
					t.Helper()
					var s string
					if err := db.QueryRow("SELECT client_serial::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&s); err != nil {
						t.Fatalf("a new connection during the rotation: %v", err)
					}
					return s
				}
				if got, want := serial(), l.Certs.Client.Leaf.SerialNumber.String(); got != want {
					t.Fatalf("serial %s, want the first certificate's %s", got, want)
				}
				publish(t, vol, files(readFile(t, next.CertFile), readFile(t, next.KeyFile)))
				want := next.Leaf.SerialNumber.String()
				deadline := time.Now().Add(5 * time.Second)
				for serial() != want {
					if time.Now().After(deadline) {
						t.Fatal("the rotated client certificate was not used within 5 s")
					}
				}
			})
		}
	}
}

// TestRotationGoneWrong: a root file that disappears, or is replaced by
// garbage, during a rotation keeps the last good version (logged once),
// so the real server is still verified and an impostor still refused;
// it never makes a connection weaker. Both backends.
func TestRotationGoneWrong(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, wrong := range []string{"missing", "garbage"} {
			t.Run(drv+"/"+wrong, func(t *testing.T) {
				isolateEnv(t)
				vol := newVolume(t, map[string][]byte{"ca.crt": readFile(t, l.Certs.CAFile)})
				open := func(p *pglab.Proxy, h *recordHandler) *sql.DB {
					c, err := securepg.NewConnector(l.at(p, "sslmode=verify-full", "sslrootcert="+vol.Path("ca.crt")),
						withBackend(drv), securepg.WithLogger(slog.New(h)))
					if err != nil {
						t.Fatal(err)
					}
					db := sql.OpenDB(c)
					db.SetMaxIdleConns(0)
					t.Cleanup(func() { db.Close() })
					return db
				}
				goodLog, badLog := &recordHandler{}, &recordHandler{}
				good, bad := open(l.relay, goodLog), open(l.selfSigned, badLog)
				if wrong == "missing" {
					if err := vol.Unpublish(); err != nil {
						t.Fatal(err)
					}
				} else {
					publish(t, vol, map[string][]byte{"ca.crt": []byte("-----BEGIN CERTIFICATE-----\nnot a certificate")})
				}
				// A failed verification looks at the file at once: the
				// impostor makes securepg notice the broken rotation.
				requireReason(t, bad.Ping(), securepg.ReasonCertificateUntrusted)
				if err := good.Ping(); err != nil {
					t.Fatalf("the real server with the last good roots: %v", err)
				}
				requireReason(t, bad.Ping(), securepg.ReasonCertificateUntrusted)
				stale := func(h *recordHandler) int {
					n := 0
					for _, r := range h.all() {
						if strings.Contains(r.Message, "last good version") {
							n++
						}
					}
					return n
				}
				// The impostor's connector noticed at once, and says so
				// once; the other one notices when it next looks (at most
				// a second later), and says so at most once.
				if n := stale(badLog); n != 1 {
					t.Fatalf("%d log records about the last good version, want 1", n)
				}
				if n := stale(goodLog); n > 1 {
					t.Fatalf("%d log records about the last good version, want at most 1", n)
				}
			})
		}
	}
}

// TestPlanStaysWhatOpenJudged: a rotation changes key material, never the
// plan. After sql.Open, the PG* environment and the service file are
// edited to point at a TLS-stripping proxy with sslmode=disable and
// another root file; the open *sql.DB keeps connecting where and as it
// was judged, verify-full to the real server, on both backends.
func TestPlanStaysWhatOpenJudged(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			svc := writeService(t, "[app]\nhost=localhost\nport="+l.relay.PortString()+"\nsslrootcert="+l.Certs.CAFile+"\n")
			t.Setenv("PGSSLMODE", "verify-full")
			t.Setenv("PGUSER", l.User)
			t.Setenv("PGPASSWORD", l.Password)
			t.Setenv("PGDATABASE", l.Database)
			var modes []string
			c, err := securepg.NewConnector("service=app", withBackend(drv), securepg.WithLogger(discardLogger()),
				securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
					modes = append(modes, ci.Verification+"@"+itoa(ci.Attempt.Port))
					return nil
				}}))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			db.SetMaxIdleConns(0)
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			stripped := l.strip.Accepted()
			// Everything a driver would read again, made weaker.
			weak := "[app]\nhost=localhost\nport=" + l.strip.PortString() + "\nsslmode=disable\nsslrootcert=" + l.Certs.OtherCAFile + "\n"
			if err := os.WriteFile(svc, []byte(weak), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PGSERVICEFILE", writeService(t, weak))
			t.Setenv("PGSSLMODE", "disable")
			t.Setenv("PGHOST", "localhost")
			t.Setenv("PGPORT", l.strip.PortString())
			t.Setenv("PGSSLROOTCERT", l.Certs.OtherCAFile)
			t.Setenv("PGSSLNEGOTIATION", "direct")
			for range 3 {
				if err := db.Ping(); err != nil {
					t.Fatalf("a new connection after the environment changed: %v", err)
				}
			}
			want := "verify-full@" + l.relay.PortString()
			if len(modes) != 4 {
				t.Fatalf("%d validated connections, want 4", len(modes))
			}
			for _, m := range modes {
				if m != want {
					t.Fatalf("connections %v, want each %s", modes, want)
				}
			}
			if n := l.strip.Accepted() - stripped; n != 0 {
				t.Fatalf("%d connection(s) reached the stripping proxy", n)
			}
		})
	}
}
