package securepg_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/libpq"
)

// TestAttack11PassfileSecondHostAgrees: a passfile entry for the second
// host of a list only (or a wildcard shape) is judged alike by sql.Open
// and NewListenerDialer (pqconn's Listener reads the passfile for the
// base host alone; the connector's plan reads it per host).
func TestAttack11PassfileSecondHostAgrees(t *testing.T) {
	for _, tc := range []struct{ name, dsn, line string }{
		{"second host only", "host=localhost,127.0.0.1 port=5432,5433 user=app dbname=x sslmode=require", "127.0.0.1:5433:x:app:pw\n"},
		{"second host's port only", "host=localhost,localhost port=5432,5433 user=app dbname=x sslmode=require", "localhost:5433:*:*:pw\n"},
		{"escaped colon in db", "host=localhost user=app dbname=a:b sslmode=require", "localhost:5432:a\\:b:app:pw\n"},
		{"hostaddr only", "hostaddr=127.0.0.1 user=app dbname=x sslmode=require", "localhost:*:*:*:pw\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			pf := filepath.Join(t.TempDir(), "pgpass")
			if err := os.WriteFile(pf, []byte(tc.line), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PGPASSFILE", pf)
			var pe *securepg.PolicyError
			db, err := sql.Open(libpq.DriverName, tc.dsn)
			if db != nil {
				db.Close()
			}
			openRefused := errors.As(err, &pe)
			_, lerr := libpq.NewListenerDialer(tc.dsn, securepg.WithLogger(discardLogger()))
			listenerRefused := errors.As(lerr, &pe)
			t.Logf("sql.Open: %v\nNewListenerDialer: %v", err, lerr)
			if !openRefused || !listenerRefused {
				t.Fatalf("a passfile password to an unverified host: sql.Open refused=%v, NewListenerDialer refused=%v", openRefused, listenerRefused)
			}
		})
	}
}
