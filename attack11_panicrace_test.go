package securepg_test

import (
	"context"
	"database/sql"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestAttack11DriverPanicsUnderConcurrency: lib/pq panics survived on many
// connections at once, with contexts that end mid-query (database/sql's
// awaitDone closes rows from its own goroutine) and statements and
// transactions: no race, no escaped panic, no connection left open.
func TestAttack11DriverPanicsUnderConcurrency(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	bad := append(append(attack10Msg('T', "\x00\x01a\x00"+"\x00\x00\x00\x00"+"\x00\x00"+"\x00\x00\x00\x19"+"\xff\xff"+"\xff\xff\xff\xff"+"\x00\x00"),
		attack10Msg('D', "\x00\x01\x00\x00\x00\x64x")...), attack10Msg('C', "SELECT 1\x00")...)
	port := malformingPeer(t, attack11Cert(t), bad)
	db, err := sql.Open(driverName("pq"), "host=localhost port="+port+" user=app dbname=x sslmode=require connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+(g+i)%5)*time.Millisecond)
				switch i % 4 {
				case 0:
					rows, err := db.QueryContext(ctx, "select 'boom'")
					if err == nil {
						for rows.Next() {
						}
						rows.Close()
					}
				case 1:
					if st, err := db.PrepareContext(ctx, "select 'boom', $1::int"); err == nil {
						if rows, err := st.QueryContext(ctx, 1); err == nil {
							for rows.Next() {
							}
							rows.Close()
						}
						st.Close()
					}
				case 2:
					if tx, err := db.BeginTx(ctx, nil); err == nil {
						if rows, err := tx.QueryContext(ctx, "select 'boom'"); err == nil {
							rows.Next()
							cancel()
							rows.Close()
						}
						tx.Rollback()
					}
				case 3:
					db.ExecContext(ctx, "select 1")
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	// database/sql closes rows whose context ended in a goroutine of its
	// own: wait for the conns to come back, within a bound.
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().InUse != 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := db.Stats().InUse; n != 0 {
		t.Fatalf("%d connections still in use", n)
	}
}
