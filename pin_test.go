package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lib/pq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	pglab "github.com/securepg/securepg/lab"
)

// pinWays connects to dsn through every way in that dials a server: sql.Open on
// both backends, ConfigurePgx, ConfigurePool, OpenDB and a lib/pq
// listener's dialer.
func pinWays() []struct {
	name    string
	connect func(t *testing.T, dsn string) error
} {
	ctx := context.Background()
	quiet := securepg.WithLogger(discardLogger())
	return []struct {
		name    string
		connect func(t *testing.T, dsn string) error
	}{
		{"sql.Open/pgx", func(t *testing.T, dsn string) error { return pingWith(t, "pgx", dsn) }},
		{"sql.Open/pq", func(t *testing.T, dsn string) error { return pingWith(t, "pq", dsn) }},
		{"ConfigurePgx", func(t *testing.T, dsn string) error {
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := securepg.ConfigurePgx(cc, quiet); err != nil {
				return err
			}
			c, err := pgx.ConnectConfig(ctx, cc)
			if err == nil {
				c.Close(ctx)
			}
			return err
		}},
		{"ConfigurePool", func(t *testing.T, dsn string) error {
			pc, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := securepg.ConfigurePool(pc, quiet); err != nil {
				return err
			}
			pool, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				return err
			}
			defer pool.Close()
			return pool.Ping(ctx)
		}},
		{"OpenDB", func(t *testing.T, dsn string) error {
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := securepg.OpenDB(cc, quiet)
			if err != nil {
				return err
			}
			defer db.Close()
			return db.Ping()
		}},
		{"NewListenerDialer", func(t *testing.T, dsn string) error {
			d, err := libpq.NewListenerDialer(dsn, quiet)
			if err != nil {
				return err
			}
			c, err := pq.DialOpen(d, d.DSN())
			if err == nil {
				c.Close()
			}
			return err
		}},
	}
}

func pingWith(t *testing.T, backend, dsn string) error {
	t.Helper()
	c, err := connectorFor(backend, dsn, securepg.WithLogger(discardLogger()))
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// TestCertificatePinning: SECUREPG_PIN_SHA256 on every way in: the
// leaf's key, an intermediate's (a front that sends leaf and
// intermediate) and the root's are allowed, as is the right pin beside a
// wrong one (a planned rotation); a key pinned by none is refused with
// certificate_pin_mismatch. Pins never replace verification: an
// impostor's self-signed certificate whose own key is pinned is refused as
// untrusted, and under sslmode=require (no chain verified) a right pin
// does not let the connection through.
func TestCertificatePinning(t *testing.T) {
	l := getLab(t)
	viaInter, inter, err := l.Certs.IssueViaIntermediate()
	if err != nil {
		t.Fatal(err)
	}
	front, err := pglab.NewTLSImpostor(l.Addr(), viaInter.TLS, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	leafPin := core.SPKIHash(l.Certs.Server.Leaf)
	wrongPin := core.SPKIHash(l.Certs.WrongHost.Leaf)
	roots := "sslrootcert=" + l.Certs.CAFile
	for _, tc := range []struct {
		name   string
		peer   *pglab.Proxy
		pins   string
		sslDSN string
		min    string
		reason string // "" allowed
	}{
		{"leaf", l.relay, leafPin, "sslmode=verify-full", "", ""},
		{"wrong", l.relay, wrongPin, "sslmode=verify-full", "", securepg.ReasonPinMismatch},
		{"rotation", l.relay, wrongPin + ", sha256/" + leafPin, "sslmode=verify-full", "", ""},
		{"root", l.relay, core.SPKIHash(l.Certs.CA), "sslmode=verify-ca", "verify-ca", ""},
		{"intermediate", front, core.SPKIHash(inter), "sslmode=verify-full", "", ""},
		{"intermediate/wrong", front, leafPin, "sslmode=verify-full", "", securepg.ReasonPinMismatch},
		{"impostor's own key", l.selfSigned, core.SPKIHash(l.Certs.SelfSigned.Leaf), "sslmode=verify-full", "", securepg.ReasonCertificateUntrusted},
		{"unverified", l.relay, leafPin, "sslmode=require", "require", securepg.ReasonPinMismatch},
	} {
		for _, way := range pinWays() {
			t.Run(tc.name+"/"+way.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_PIN_SHA256", tc.pins)
				if tc.min != "" {
					t.Setenv("SECUREPG_MIN_SSLMODE", tc.min)
				}
				dsn := l.at(tc.peer, tc.sslDSN, roots, "connect_timeout=10")
				if tc.min == "require" {
					t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true") // the pins, not the password protection, are under test
					dsn = l.at(tc.peer, tc.sslDSN, "connect_timeout=10")   // a root file would make require verify-ca
				}
				err := way.connect(t, dsn)
				if tc.reason == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				requireReason(t, err, tc.reason)
			})
		}
	}
}

// TestPinSettingErrors: a malformed pin is an error at configuration,
// naming the variable or the option and not repeating the value.
func TestPinSettingErrors(t *testing.T) {
	isolateEnv(t)
	for _, bad := range []string{"not-base64!", "c2hvcnQ=", ","} {
		t.Setenv("SECUREPG_PIN_SHA256", bad)
		_, err := sql.Open("securepg", "host=localhost user=u sslmode=verify-full")
		if err == nil || !strings.Contains(err.Error(), "SECUREPG_PIN_SHA256") || strings.Contains(err.Error(), "not-base64") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	isolateEnv(t)
	_, err := securepg.NewConnector("host=localhost user=u sslmode=verify-full", securepg.WithPinSHA256("c2hvcnQ="))
	if err == nil || !strings.Contains(err.Error(), "WithPinSHA256") {
		t.Fatalf("option: %v", err)
	}
}

// TestPinFileRotation: SECUREPG_PIN_SHA256_FILE follows its file as the
// root file does, on both backends, with one *sql.DB kept open: the
// server moves to a new key (same CA) and is refused while only the old
// key is pinned; once the file (a secret volume's ..data swap) pins both,
// the next connection is made at once, without a restart; a pin file set
// beside SECUREPG_PIN_SHA256 is refused at creation.
func TestPinFileRotation(t *testing.T) {
	l := getLab(t)
	next, err := l.Certs.Issue("server.securepg.test", []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldPin, newPin := core.SPKIHash(l.Certs.Server.Leaf), core.SPKIHash(next.Leaf)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			var serving atomic.Pointer[tls.Certificate]
			serving.Store(&l.Certs.Server.TLS)
			front, err := pglab.NewTLSFront(l.Addr(), func() *tls.Certificate { return serving.Load() })
			if err != nil {
				t.Fatal(err)
			}
			defer front.Close()
			vol := newVolume(t, map[string][]byte{"pins": []byte("# the server's key\n" + oldPin + "\n")})
			t.Setenv("SECUREPG_PIN_SHA256_FILE", vol.Path("pins"))
			c, err := connectorFor(drv, l.at(front, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			db.SetMaxIdleConns(0) // every ping a new connection
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := db.PingContext(ctx); err != nil {
				t.Fatalf("the pinned key: %v", err)
			}
			serving.Store(&next.TLS)
			err = db.PingContext(ctx)
			requireReason(t, err, securepg.ReasonPinMismatch)
			if !strings.Contains(err.Error(), "add its pin") || !strings.Contains(err.Error(), "to SECUREPG_PIN_SHA256_FILE (") {
				t.Fatalf("the fix does not name the pin file: %v", err)
			}
			publish(t, vol, map[string][]byte{"pins": []byte(oldPin + "\n" + newPin + "\n")})
			if err := db.PingContext(ctx); err != nil {
				t.Fatalf("after the pin file's rotation: %v", err)
			}
		})
	}
	isolateEnv(t)
	t.Setenv("SECUREPG_PIN_SHA256", oldPin)
	t.Setenv("SECUREPG_PIN_SHA256_FILE", filepath.Join(t.TempDir(), "pins"))
	_, err = securepg.NewConnector("host=localhost sslmode=verify-full sslrootcert=system", securepg.WithLogger(discardLogger()))
	if err == nil || !strings.Contains(err.Error(), "SECUREPG_PIN_SHA256 and SECUREPG_PIN_SHA256_FILE are both set") {
		t.Fatalf("%v", err)
	}
}
