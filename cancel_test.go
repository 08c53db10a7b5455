package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab/labtest"
)

// TestQueryCancellation: a query whose context ends is cancelled on the
// server, through securepg's validated connection for the cancel request,
// on both backends (lib/pq dials its CancelRequest through securepg's
// dialer, with the default connect timeout in force). Repeated, as the
// failure it guards against was a race.
func TestQueryCancellation(t *testing.T) {
	labtest.Slow(t, "waits for cancelled queries")
	l := getLab(t)
	for _, drv := range []string{"securepg", "securepg-pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			db, err := sql.Open(drv, l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, "application_name=cancel_test"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			admin, err := l.Admin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(context.Background())
			for i := range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				start := time.Now()
				_, err := db.ExecContext(ctx, "SELECT pg_sleep(30)")
				cancel()
				if err == nil {
					t.Fatalf("run %d: the query ran to its end (%v): not cancelled", i, time.Since(start))
				}
				if !strings.Contains(err.Error(), "57014") && !strings.Contains(err.Error(), "canceling statement") &&
					!strings.Contains(err.Error(), "context deadline exceeded") {
					t.Fatalf("run %d: %v", i, err)
				}
				// The server stopped it: no pg_sleep left running.
				deadline := time.Now().Add(10 * time.Second)
				for {
					res, err := admin.Exec(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cancel_test' AND state = 'active' AND query LIKE 'SELECT pg_sleep%'").ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					if string(res[0].Rows[0][0]) == "0" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("run %d: the server still runs the query 10 s after its context ended", i)
					}
				}
			}
		})
	}
}
