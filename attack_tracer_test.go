package securepg_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/securepg/securepg"
)

// poolTracer is a user's own tracer: a query tracer that also traces
// pgxpool's acquire and release.
type poolTracer struct{ queries, acquires, releases atomic.Int32 }

func (t *poolTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.queries.Add(1)
	return ctx
}
func (*poolTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (t *poolTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	t.acquires.Add(1)
	return ctx
}
func (*poolTracer) TraceAcquireEnd(context.Context, *pgxpool.Pool, pgxpool.TraceAcquireEndData) {}
func (t *poolTracer) TraceRelease(*pgxpool.Pool, pgxpool.TraceReleaseData)                      { t.releases.Add(1) }

// TestAttackPoolKeepsUsersAcquireTracer: ConfigurePool documents that the
// configuration's Tracer keeps running. A user's tracer that implements
// pgxpool.AcquireTracer and pgxpool.ReleaseTracer hears every Acquire and
// Release with pgx alone, and after ConfigurePool too (pgxpool looks for
// those interfaces on ConnConfig.Tracer, which ConfigurePool replaces with
// securepg's; before the fix it heard none).
func TestAttackPoolKeepsUsersAcquireTracer(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	dsn := l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
	ctx := context.Background()
	for _, configure := range []bool{false, true} {
		pc, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		tr := &poolTracer{}
		pc.ConnConfig.Tracer = tr
		if configure {
			if err := securepg.ConfigurePool(pc, securepg.WithLogger(discardLogger())); err != nil {
				t.Fatal(err)
			}
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pool.Acquire(ctx)
		if err != nil {
			pool.Close()
			t.Fatalf("ConfigurePool=%v: %v", configure, err)
		}
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		c.Release()
		pool.Close()
		if tr.queries.Load() == 0 {
			t.Errorf("ConfigurePool=%v: the user's query tracer heard nothing", configure)
		}
		if tr.acquires.Load() == 0 || tr.releases.Load() == 0 {
			t.Errorf("ConfigurePool=%v: the user's pgxpool tracer heard %d acquires and %d releases (pgx alone: one each)",
				configure, tr.acquires.Load(), tr.releases.Load())
		}
	}
}

// allTracer implements every pgx tracer interface and counts each call.
type allTracer struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *allTracer) hit(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[s]++
}
func (t *allTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.hit("QueryStart")
	return ctx
}
func (t *allTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {
	t.hit("QueryEnd")
}
func (t *allTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.hit("BatchStart")
	return ctx
}
func (t *allTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	t.hit("BatchQuery")
}
func (t *allTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {
	t.hit("BatchEnd")
}
func (t *allTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	t.hit("CopyFromStart")
	return ctx
}
func (t *allTracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {
	t.hit("CopyFromEnd")
}
func (t *allTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	t.hit("PrepareStart")
	return ctx
}
func (t *allTracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {
	t.hit("PrepareEnd")
}
func (t *allTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	t.hit("ConnectStart")
	return ctx
}
func (t *allTracer) TraceConnectEnd(context.Context, pgx.TraceConnectEndData) { t.hit("ConnectEnd") }

// TestAttackConfigurePgxForwardsUsersTracers: after ConfigurePgx, a
// user's tracer still hears query, batch, copy, prepare and connect
// tracing (native embeds pgx.QueryTracer and forwards the rest). Holds.
func TestAttackConfigurePgxForwardsUsersTracers(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	ctx := context.Background()
	cc, err := pgx.ParseConfig(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	tr := &allTracer{}
	cc.Tracer = tr
	if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Prepare(ctx, "p1", "SELECT $1::int"); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE attackh_copy (a int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"attackh_copy"}, []string{"a"}, pgx.CopyFromRows([][]any{{1}})); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, k := range []string{"ConnectStart", "ConnectEnd", "QueryStart", "QueryEnd", "BatchStart", "BatchQuery", "BatchEnd", "CopyFromStart", "CopyFromEnd", "PrepareStart", "PrepareEnd"} {
		if tr.n[k] == 0 {
			t.Errorf("the user's tracer heard no %s: %v", k, tr.n)
		}
	}
}

// TestPoolTracingOnlyWhenAsked: securepg's tracer offers pgxpool's acquire
// and release methods only to a configuration whose own tracer has them
// (other pools make no call per Acquire and Release), and a configuration
// configured either way is known as configured.
func TestPoolTracingOnlyWhenAsked(t *testing.T) {
	isolateEnv(t)
	for _, own := range []pgx.QueryTracer{nil, &poolTracer{}} {
		pc, err := pgxpool.ParseConfig("host=db.example.com sslmode=verify-full")
		if err != nil {
			t.Fatal(err)
		}
		pc.ConnConfig.Tracer = own
		if err := securepg.ConfigurePool(pc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		_, acquire := pc.ConnConfig.Tracer.(pgxpool.AcquireTracer)
		_, release := pc.ConnConfig.Tracer.(pgxpool.ReleaseTracer)
		if want := own != nil; acquire != want || release != want {
			t.Errorf("own tracer %T: acquire %v, release %v, want %v", own, acquire, release, want)
		}
		if err := securepg.ConfigurePool(pc); err == nil {
			t.Errorf("own tracer %T: configured twice", own)
		}
	}
}
