package securepg

import (
	"context"
	"database/sql"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestRowsWrapperReuse: a conn lends its own rows wrapper to one result
// set at a time; a second result set open at once gets its own, and every
// query still has its span, ended when its rows close.
func TestRowsWrapperReuse(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	c, err := mockConnector("host=db.example.com user=app sslmode=verify-full", memMock{Rows: 3}, WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var w *wconn
	conn.Raw(func(dc any) error {
		if q, ok := dc.(interface{ wrapped() *wconn }); ok {
			w = q.wrapped()
		}
		return nil
	})
	if w == nil {
		t.Fatal("not securepg's conn")
	}
	queries := func() int {
		n := 0
		for _, s := range rec.Ended() {
			if s.Name() != "securepg.connect" {
				n++
			}
		}
		return n
	}
	first, err := conn.QueryContext(ctx, "SELECT n FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !w.rowsBusy.Load() {
		t.Fatal("the first result set did not get the conn's wrapper")
	}
	second, err := conn.QueryContext(ctx, "SELECT n FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Next() || !second.Next() {
		t.Fatal("no row")
	}
	second.Close()
	if queries() != 1 || !w.rowsBusy.Load() {
		t.Fatalf("after closing the second result set: %d spans, wrapper busy %v; want 1, true", queries(), w.rowsBusy.Load())
	}
	first.Close()
	if queries() != 2 || w.rowsBusy.Load() {
		t.Fatalf("after closing the first: %d spans, wrapper busy %v; want 2, false", queries(), w.rowsBusy.Load())
	}
	third, err := conn.QueryContext(ctx, "SELECT n FROM t")
	if err != nil {
		t.Fatal(err)
	}
	third.Close()
	if queries() != 3 || w.rowsBusy.Load() {
		t.Fatalf("the third query: %d spans, wrapper busy %v", queries(), w.rowsBusy.Load())
	}
}
