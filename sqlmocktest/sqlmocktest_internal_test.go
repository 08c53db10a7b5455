package sqlmocktest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
	"github.com/securepg/securepg/libpq"
)

// isolate clears PG* and SECUREPG_* variables for the test.
func isolate(t *testing.T) { labtest.IsolateEnv(t) }

const dsn = "postgres://app:Zq7-mock-pw@db.internal:5432/app?sslmode=verify-full"

func TestSqlmockFeaturesKeepWorking(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolate(t)
			db, mock, err := newOn(drv, t, dsn, WithSqlmock(
				sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual),
				sqlmock.MonitorPingsOption(true),
				sqlmock.ValueConverterOption(upperConverter{}),
			))
			if err != nil {
				t.Fatal(err)
			}
			mock.ExpectPing()
			mock.ExpectBegin()
			mock.ExpectExec("UPDATE t SET x = $1").WithArgs("HELLO").WillReturnResult(sqlmock.NewResult(0, 1))
			mock.ExpectCommit()
			mock.ExpectQuery("SELECT x FROM t").WillReturnRows(sqlmock.NewRows([]string{"x"}).AddRow("a").AddRow("b"))
			mock.ExpectPrepare("SELECT y FROM t WHERE id = $1").ExpectQuery().WithArgs(int64(7)).
				WillReturnRows(sqlmock.NewRows([]string{"y"}).AddRow(int64(9)))
			mock.ExpectQuery("SELECT broken").WillReturnError(errors.New("boom"))

			ctx := context.Background()
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("UPDATE t SET x = $1", "hello"); err != nil { // the converter upper-cases
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			rows, err := db.Query("SELECT x FROM t")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var s string
				rows.Scan(&s)
				got = append(got, s)
			}
			if strings.Join(got, ",") != "a,b" {
				t.Fatalf("rows %v", got)
			}
			stmt, err := db.Prepare("SELECT y FROM t WHERE id = $1")
			if err != nil {
				t.Fatal(err)
			}
			var y int64
			if err := stmt.QueryRow(7).Scan(&y); err != nil || y != 9 {
				t.Fatalf("prepared: %d, %v", y, err)
			}
			if _, err := db.Query("SELECT broken"); err == nil || err.Error() != "boom" {
				t.Fatalf("error expectation: %v", err)
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
			// An unexpected query fails as it does with plain sqlmock.
			if _, err := db.Exec("DELETE FROM t"); err == nil {
				t.Fatal("an unexpected Exec succeeded")
			}
		})
	}
}

// upperConverter is a ValueConverter, as a driver would supply.
type upperConverter struct{}

func (upperConverter) ConvertValue(v any) (driver.Value, error) {
	if s, ok := v.(string); ok {
		return strings.ToUpper(s), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(v)
}

func TestPolicyStillJudgesTheDSN(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolate(t)
			quiet := WithSecurepg(securepg.WithLogger(discard()))
			for _, tc := range []struct {
				dsn, reason string
				env         map[string]string
			}{
				{"postgres://app@db.internal/app?sslmode=prefer", securepg.ReasonPlaintextFallback, nil},
				{"host=db.internal sslmode=require", securepg.ReasonUnverifiedCertificate, nil},
				{"host=db.internal", securepg.ReasonTLSDisabled, map[string]string{"PGSSLMODE": "disable"}},
				{"host=db.internal sslmode=require", "", map[string]string{"SECUREPG_MIN_SSLMODE": "require"}},
			} {
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				_, _, err := newOn(drv, t, tc.dsn, quiet)
				var pe *securepg.PolicyError
				if tc.reason == "" && err != nil || tc.reason != "" && (!errors.As(err, &pe) || pe.Reason != tc.reason) {
					t.Errorf("%s %v: err = %v, want %q", tc.dsn, tc.env, err, tc.reason)
				}
				for k := range tc.env {
					os.Unsetenv(k)
				}
			}
		})
	}
}

func TestSimulatedTLSIsValidated(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolate(t)
			quiet := WithSecurepg(securepg.WithLogger(discard()))
			certs, err := lab.GenerateCerts(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			chain := []*x509.Certificate{certs.Server.Leaf}
			for _, tc := range []struct {
				name   string
				tls    TLS
				env    string
				reason string
				dsn    string
			}{
				{"default", TLS{}, "", "", dsn},
				{"TLS 1.2 under a 1.3 minimum", TLS{Version: tls.VersionTLS12}, "1.3", securepg.ReasonTLSVersionTooLow, dsn},
				// The DSN's own minimum counts too, as on a real connection.
				{"TLS 1.2 under the DSN's ssl_min_protocol_version", TLS{Version: tls.VersionTLS12}, "", securepg.ReasonTLSVersionTooLow,
					dsn + "&ssl_min_protocol_version=TLSv1.3"},
				{"plaintext", TLS{Disabled: true}, "", securepg.ReasonTLSNotEstablished, dsn},
				{"unverified", TLS{Verification: "none"}, "", securepg.ReasonUnverifiedCertificate, dsn},
				{"verify-ca", TLS{Verification: "verify-ca"}, "", securepg.ReasonUnverifiedHostname, dsn},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if tc.env != "" {
						t.Setenv("SECUREPG_MIN_TLS_VERSION", tc.env)
					}
					db, _, err := newOn(drv, t, tc.dsn, WithTLS(tc.tls), quiet)
					if err != nil {
						t.Fatal(err)
					}
					err = db.Ping()
					var pe *securepg.PolicyError
					if tc.reason == "" && err != nil || tc.reason != "" && (!errors.As(err, &pe) || pe.Reason != tc.reason) {
						t.Fatalf("Ping: %v, want %q", err, tc.reason)
					}
				})
			}
			// SECUREPG_TLS_KEY_EXCHANGE and SECUREPG_PIN_SHA256 judge the
			// simulated group and chain as a handshake's.
			for _, tc := range []struct {
				name, variable, value, reason string
				tls                           TLS
			}{
				{"classical group under hybrid-pq", "SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq", securepg.ReasonKeyExchangeClassical, TLS{CurveID: tls.X25519}},
				{"hybrid group under hybrid-pq", "SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq", "", TLS{}},
				{"pinned key", "SECUREPG_PIN_SHA256", core.SPKIHash(certs.Server.Leaf), "", TLS{PeerCertificates: chain}},
				{"another pinned key", "SECUREPG_PIN_SHA256", core.SPKIHash(certs.WrongHost.Leaf), securepg.ReasonPinMismatch, TLS{PeerCertificates: chain}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Setenv(tc.variable, tc.value)
					db, _, err := newOn(drv, t, dsn, WithTLS(tc.tls), quiet)
					if err != nil {
						t.Fatal(err)
					}
					err = db.Ping()
					var pe *securepg.PolicyError
					if tc.reason == "" && err != nil || tc.reason != "" && (!errors.As(err, &pe) || pe.Reason != tc.reason) {
						t.Fatalf("Ping: %v, want %q", err, tc.reason)
					}
				})
			}
		})
	}
}

// TestRegisterReachesCodeThatOpensItself: the code under test calls
// sql.Open(driverName(drv), dsn) itself.
func TestRegisterReachesCodeThatOpensItself(t *testing.T) {
	isolate(t)
	mock, err := Register(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	mock.ExpectQuery("SELECT 1").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
	codeUnderTest := func() (int, error) {
		db, err := sql.Open("securepg", dsn)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var n int
		return n, db.QueryRow("SELECT 1").Scan(&n)
	}
	if n, err := codeUnderTest(); err != nil || n != 1 {
		t.Fatalf("%d, %v", n, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(t, dsn, WithSecurepg(securepg.WithMode("audit"))); err == nil {
		t.Fatal("Register accepted securepg options it cannot apply")
	}
	if _, _, err := New(t, dsn, WithSqlmock("not an option")); err == nil || !strings.Contains(err.Error(), "WithSqlmock") {
		t.Fatalf("a bad sqlmock option: %v", err)
	}
}

// TestMockPathNeverDials points the DSN (and PGHOST) at a listener that
// counts connections: none may arrive, whichever driver is configured.
func TestMockPathNeverDials(t *testing.T) {
	ln, err := lab.NewRelay("127.0.0.1:1") // nothing is relayed: nothing may connect
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolate(t)
			t.Setenv("PGHOST", "127.0.0.1")
			t.Setenv("PGPORT", ln.PortString())
			before := ln.Accepted()
			db, mock, err := newOn(drv, t, "user=app dbname=app sslmode=verify-full sslrootcert=system")
			if err != nil {
				t.Fatal(err)
			}
			mock.ExpectExec("INSERT").WillReturnResult(sqlmock.NewResult(1, 1))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			n, err := ln.DialsBefore()
			if err != nil {
				t.Fatal(err)
			}
			if n != before {
				t.Fatalf("%d connection(s) reached the listener", n-before)
			}
		})
	}
}

// TestMockPathNeverDialsUnixSockets: the same, with a unix socket that the
// policy allows.
func TestMockPathNeverDialsUnixSockets(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolate(t)
			dir, err := os.MkdirTemp("", "spg")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5432"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			t.Setenv("SECUREPG_ALLOW_UNIX_SOCKET", "true")
			db, mock, err := newOn(drv, t, "host="+dir+" port=5432 user=app dbname=app")
			if err != nil {
				t.Fatal(err)
			}
			mock.ExpectQuery("SELECT").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
			var n int
			if err := db.QueryRow("SELECT 1").Scan(&n); err != nil {
				t.Fatal(err)
			}
			db.Close()
			// Accepts come in dial order: the first one must be ours.
			mark, err := net.Dial("unix", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer mark.Close()
			if _, err := mark.Write([]byte("SENTINEL")); err != nil {
				t.Fatal(err)
			}
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			b := make([]byte, 8)
			if _, err := io.ReadFull(c, b); err != nil || string(b) != "SENTINEL" {
				t.Fatalf("a unix connection reached the socket before ours (%q, %v)", b, err)
			}
		})
	}
}

// TestPasswordProtectionOnTheMockPath: the password protection judges the
// mock as it judges the real backends: a DSN password under require is
// refused at sql.Open with lib/pq, and so is a password a provider
// supplies.
func TestPasswordProtectionOnTheMockPath(t *testing.T) {
	isolate(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	quiet := securepg.WithLogger(discard())
	_, _, err := newOn("pq", t, "host=db.internal user=app password=Zq7-pw dbname=app sslmode=require", WithSecurepg(quiet))
	var pe *securepg.PolicyError
	if !errors.As(err, &pe) || pe.Reason != securepg.ReasonPasswordUnverifiedServer {
		t.Fatalf("DSN password: err = %v", err)
	}
	hook := securepg.WithCredentials(hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
		return hooks.Credentials{Password: "Zq7-hook-pw"}, nil
	}))
	// A provider's password: refused at creation (a provider is known to
	// supply one), or else when connecting.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, _, err := newOn("pq", t, "host=db.internal user=app dbname=app sslmode=require", WithSecurepg(quiet, hook))
	if err == nil {
		_, err = db.Conn(ctx)
	}
	if !errors.As(err, &pe) || pe.Reason != securepg.ReasonPasswordUnverifiedServer {
		t.Fatalf("provider password: err = %v", err)
	}
	// pgx binds SCRAM to the channel: allowed.
	db, mock, err := newOn("pgx", t, "host=db.internal user=app dbname=app sslmode=require", WithSecurepg(quiet, hook))
	if err != nil {
		t.Fatal(err)
	}
	mock.ExpectPing()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
}

// newOn is New on backend ("pgx" or "pq").
func newOn(backend string, t TB, dsn string, opts ...Option) (*sql.DB, sqlmock.Sqlmock, error) {
	return New(t, dsn, append(opts, WithSecurepg(map[string]securepg.Option{"pgx": nil, "pq": libpq.Backend()}[backend]))...)
}
