package bench

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"

	xsam "github.com/XSAM/otelsql"
	uptrace "github.com/uptrace/opentelemetry-go-extra/otelsql"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/sqlmocktest"
)

// counting records how many spans end, then drops them.
type counting struct{ n atomic.Int64 }

func (c *counting) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *counting) OnEnd(sdktrace.ReadOnlySpan)                     { c.n.Add(1) }
func (c *counting) Shutdown(context.Context) error                  { return nil }
func (c *counting) ForceFlush(context.Context) error                { return nil }

const dsn = "host=db.example.com user=app sslmode=verify-full"

type subject struct {
	name string
	db   *sql.DB
}

// subjects opens the same in-memory database through each instrumentation.
// With sdk false no provider is installed (the global no-op).
func subjects(tb testing.TB, sdk bool) ([]subject, *counting) {
	tb.Helper()
	spans := &counting{}
	var xo []xsam.Option
	var uo []uptrace.Option
	var so []securepg.Option
	if sdk {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(spans))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tb.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
		xo = append(xo, xsam.WithTracerProvider(tp), xsam.WithMeterProvider(mp))
		uo = append(uo, uptrace.WithTracerProvider(tp), uptrace.WithMeterProvider(mp))
		so = append(so, securepg.WithTracerProvider(tp), securepg.WithMeterProvider(mp))
	}
	xo = append(xo, xsam.WithAttributes(semconv.DBSystemNamePostgreSQL))
	sp, err := sqlmocktest.OpenDB(tb, dsn, memConnector{rows: 1}, sqlmocktest.WithSecurepg(so...))
	if err != nil {
		tb.Fatal(err)
	}
	out := []subject{
		{"bare", sql.OpenDB(memConnector{rows: 1})},
		{"securepg", sp},
		{"xsam-otelsql", xsam.OpenDB(memConnector{rows: 1}, xo...)},
		{"uptrace-otelsql", uptrace.OpenDB(memConnector{rows: 1}, uo...)},
	}
	for _, s := range out {
		tb.Cleanup(func() { s.db.Close() })
		if err := s.db.Ping(); err != nil { // open the connection: its span is not the query's
			tb.Fatal(err)
		}
	}
	return out, spans
}

func run(b *testing.B, sdk bool) {
	subs, spans := subjects(b, sdk)
	ctx := context.Background()
	for _, s := range subs {
		b.Run("op=query/db="+s.name, func(b *testing.B) {
			b.ReportAllocs()
			start := spans.n.Load()
			var n int64
			for b.Loop() {
				if err := s.db.QueryRowContext(ctx, "SELECT n FROM t WHERE id = $1", 1).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(spans.n.Load()-start)/float64(b.N), "spans/op")
		})
		b.Run("op=exec/db="+s.name, func(b *testing.B) {
			b.ReportAllocs()
			start := spans.n.Load()
			for b.Loop() {
				if _, err := s.db.ExecContext(ctx, "UPDATE t SET n = n + 1 WHERE id = $1", 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(spans.n.Load()-start)/float64(b.N), "spans/op")
		})
	}
}

// BenchmarkNoProvider: nothing installed, what every service pays by default.
func BenchmarkNoProvider(b *testing.B) { run(b, false) }

// BenchmarkSDK: a real SDK that samples everything (spans are counted and
// dropped at End) and a meter provider with a reader.
func BenchmarkSDK(b *testing.B) { run(b, true) }

// TestSpansPerQuery pins what the benchmarks' spans/op column shows.
func TestSpansPerQuery(t *testing.T) {
	subs, spans := subjects(t, true)
	for _, s := range subs {
		before := spans.n.Load()
		var n int64
		if err := s.db.QueryRow("SELECT n FROM t WHERE id = $1", 1).Scan(&n); err != nil {
			t.Fatal(err)
		}
		got := spans.n.Load() - before
		t.Logf("%s: %d span(s) per query", s.name, got)
		if s.name == "securepg" && got != 1 {
			t.Fatalf("securepg made %d spans for one query, want 1", got)
		}
	}
}
