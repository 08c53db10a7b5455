package securepg_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/securepg/securepg/libpq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab/labtest"
)

// TestRefusalNamesTheCheckForItsBackend: a refusal with more violations
// points to the check command that judges as its backend does.
func TestRefusalNamesTheCheckForItsBackend(t *testing.T) {
	labtest.IsolateEnv(t)
	dsn := "host=db.internal,replica.internal user=app sslmode=prefer"
	for name, want := range map[string]string{
		securepg.DriverName: "`securepg check` lists them",
		libpq.DriverName:    "`securepg check --driver securepg-pq` lists them",
	} {
		db, err := sql.Open(name, dsn)
		if err == nil {
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
