package securepg

import (
	"context"
	"database/sql"
	"testing"
)

// The overhead of securepg over the bare driver, against an in-memory
// driver, with no OpenTelemetry provider installed (TestMain installs
// none when benchmarks run). Compare the bare and securepg sub-benchmarks:
//
//	go test -run '^$' -bench Overhead -benchmem -count 10 . | tee new.txt
//	benchstat -col /db new.txt
func BenchmarkOverhead(b *testing.B) {
	const dsn = "host=db.example.com user=app sslmode=verify-full"
	c, err := mockConnector(dsn, memMock{Rows: 1})
	if err != nil {
		b.Fatal(err)
	}
	sp := sql.OpenDB(c)
	defer sp.Close()
	bare := sql.OpenDB(memConnector{Rows: 1})
	defer bare.Close()
	ctx := context.Background()
	for _, db := range []struct {
		name string
		db   *sql.DB
	}{{"bare", bare}, {"securepg", sp}} {
		b.Run("op=query/db="+db.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				if err := db.db.QueryRowContext(ctx, "SELECT n FROM t WHERE id = $1", 1).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=exec/db="+db.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.db.ExecContext(ctx, "UPDATE t SET n = n + 1 WHERE id = $1", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
