package securepg_test

import (
	"context"
	"database/sql"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestAttack11DriverPanicLeaksLibPQsCancelWatcher: lib/pq's QueryContext
// starts a goroutine that waits for the query's context to end
// (conn.watchCancel) and stops it with a finish func that only rows.Close
// or the error return of the query calls. When lib/pq panics inside the
// query (an ErrorResponse without its end) or in rows.Next (a DataRow
// longer than its message), securepg's guard survives the panic but
// neither path runs finish: securepg closes the inner conn and never
// calls the inner rows' Close. The goroutine (and the lib/pq conn it
// holds) lives until the caller's context ends, and then dials a cancel
// request to the peer. A peer the policy lets through leaks one goroutine
// per query under a long-lived context (a server's base context, a
// worker's): a slow, unbounded leak.
func TestAttack11DriverPanicLeaksLibPQsCancelWatcher(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  []byte
	}{
		{"an error without its end, to Query", attack10Msg('E', "SERROR\x00C08P01\x00Mgone\x00")},
		{"a DataRow value longer than its message, to Next",
			append(append(attack10Msg('T', "\x00\x01a\x00"+"\x00\x00\x00\x00"+"\x00\x00"+"\x00\x00\x00\x19"+"\xff\xff"+"\xff\xff\xff\xff"+"\x00\x00"),
				attack10Msg('D', "\x00\x01\x00\x00\x00\x64x")...), attack10Msg('C', "SELECT 1\x00")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			port := malformingPeer(t, attack11Cert(t), tc.bad)
			db, err := sql.Open(driverName("pq"), "host=localhost port="+port+" user=app dbname=x sslmode=require connect_timeout=5")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			ctx, cancel := context.WithCancel(context.Background()) // a long-lived context
			defer cancel()
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			// lib/pq's cancel watchers alive: one per query whose context
			// lib/pq still watches.
			watchers := func() int {
				buf := make([]byte, 1<<20)
				return strings.Count(string(buf[:runtime.Stack(buf, true)]), "lib/pq.(*conn).watchCancel.func")
			}
			const n = 20
			for range n {
				rows, err := db.QueryContext(ctx, "select 'boom'")
				if err == nil {
					for rows.Next() {
					}
					err = rows.Err()
					rows.Close()
				}
				if err == nil {
					t.Fatal("the malformed answer went unnoticed")
				}
			}
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			// Each query is over: its watcher ends without a cancel request
			// (lib/pq's own would wait up to 10 s on the peer).
			deadline := time.Now().Add(5 * time.Second)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for watchers() > 0 && time.Now().Before(deadline) {
				<-tick.C
			}
			if w := watchers(); w > 0 {
				t.Fatalf("%d of lib/pq's cancel watchers still alive 5 s after %d queries the driver panicked on (the context lives on)", w, n)
			}
		})
	}
}
