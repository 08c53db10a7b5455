package securepg_test

import (
	"database/sql"
	"testing"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab/labtest"
)

// BenchmarkLoopback runs a real query on the test lab's server over TLS,
// with each driver bare and through securepg, no provider installed.
func BenchmarkLoopback(b *testing.B) {
	c := labtest.Shared(b)
	dsn := c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile)
	for _, drv := range []struct{ name, bare string }{{"pgx", "pgx/v5"}, {"pq", "postgres"}} {
		bare, err := sql.Open(drv.bare, dsn)
		if err != nil {
			b.Fatal(err)
		}
		sp, err := securepg.NewConnector(dsn, withBackend(drv.name), securepg.WithLogger(discardLogger()))
		if err != nil {
			b.Fatal(err)
		}
		for _, db := range []struct {
			name string
			db   *sql.DB
		}{{"bare", bare}, {"securepg", sql.OpenDB(sp)}} {
			b.Run("driver="+drv.name+"/db="+db.name, func(b *testing.B) {
				b.ReportAllocs()
				var n int64
				for b.Loop() {
					if err := db.db.QueryRow("SELECT $1::int8", 1).Scan(&n); err != nil {
						b.Fatal(err)
					}
				}
			})
			db.db.Close()
		}
	}
}
