package integrations_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"testing"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab/labtest"
	_ "github.com/securepg/securepg/libpq" // "securepg-pq"
)

// TestMain stops the shared lab cluster at the end. securepg's refusal
// logs (some tests provoke one on purpose) are discarded.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(labtest.RunMain(m))
}

// backends runs f once per securepg driver name ("securepg" is pgx,
// "securepg-pq" lib/pq) in a clean environment, with a verify-full DSN for
// the lab's server and a DSN the default policy refuses.
func backends(t *testing.T, f func(t *testing.T, name, dsn, weak string)) {
	t.Helper()
	c := labtest.Shared(t)
	for _, name := range []string{"securepg", "securepg-pq"} {
		t.Run(name, func(t *testing.T) {
			labtest.IsolateEnv(t)
			f(t, name, c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile), c.DSN("sslmode=disable"))
		})
	}
}

// openDB is sql.Open(name, dsn), pinged, closed at the end of t.
func openDB(t *testing.T, name, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(name, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// sslQuery asks the server whether this connection is encrypted.
const sslQuery = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

// wantSSL fails t unless the library reported ssl = true for its
// connection, without error.
func wantSSL(t *testing.T, ssl bool, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", sslQuery, err)
	}
	if !ssl {
		t.Fatal("pg_stat_ssl: the connection is not encrypted")
	}
}

// wantRefused fails t unless err is securepg's refusal of a weak DSN.
func wantRefused(t *testing.T, err error) {
	t.Helper()
	var pe *securepg.PolicyError
	if !errors.Is(err, securepg.ErrPolicyViolation) || !errors.As(err, &pe) || pe.Reason != securepg.ReasonTLSDisabled {
		t.Fatalf("want securepg's refusal (tls_disabled), got %v", err)
	}
}

// sqlState is the SQLSTATE of a server error from pgx or lib/pq.
func sqlState(err error) string {
	var s interface{ SQLState() string }
	if errors.As(err, &s) {
		return s.SQLState()
	}
	return ""
}
