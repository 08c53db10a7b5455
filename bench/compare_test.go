package bench

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	xsam "github.com/XSAM/otelsql"
	uptrace "github.com/uptrace/opentelemetry-go-extra/otelsql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

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
func subjects(tb testing.TB, sdk bool) ([]subject, *counting, *floor) {
	tb.Helper()
	spans := &counting{}
	var xo []xsam.Option
	var uo []uptrace.Option
	var so []securepg.Option
	var fl *floor
	if sdk {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(spans))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tb.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
		xo = append(xo, xsam.WithTracerProvider(tp), xsam.WithMeterProvider(mp))
		uo = append(uo, uptrace.WithTracerProvider(tp), uptrace.WithMeterProvider(mp))
		so = append(so, securepg.WithTracerProvider(tp), securepg.WithMeterProvider(mp))
		fl = newFloor(tb, tp, mp)
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
	return out, spans, fl
}

// floor is what the semantic conventions cost in the SDK alone, around the
// bare driver's query: one client span started with 7 attributes and
// ended, and one histogram Record with a precomputed 6-attribute set, as
// securepg records them. What securepg costs beyond it is its own share.
type floor struct {
	tracer trace.Tracer
	hist   metric.Float64Histogram
	span   []trace.SpanStartOption
	record []metric.RecordOption
}

func newFloor(tb testing.TB, tp trace.TracerProvider, mp metric.MeterProvider) *floor {
	hist, err := mp.Meter("floor").Float64Histogram("db.client.operation.duration", metric.WithUnit("s"))
	if err != nil {
		tb.Fatal(err)
	}
	common := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, semconv.DBNamespace("app"),
		semconv.ServerAddress("db.example.com"), semconv.ServerPort(5432)}
	return &floor{
		tracer: tp.Tracer("floor"),
		hist:   hist,
		span: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(append(common[:4:4],
			semconv.DBOperationName("SELECT"), semconv.DBCollectionName("t"), semconv.DBQuerySummary("SELECT t"))...)},
		record: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(append(common[:4:4],
			semconv.DBOperationName("SELECT"), semconv.DBCollectionName("t"))...))},
	}
}

// around runs f as an observed operation would be.
func (f *floor) around(ctx context.Context, fn func(context.Context) error) error {
	start := time.Now()
	ctx, span := f.tracer.Start(ctx, "SELECT t", f.span...)
	err := fn(ctx)
	span.End()
	f.hist.Record(ctx, time.Since(start).Seconds(), f.record...)
	return err
}

func run(b *testing.B, sdk bool) {
	subs, spans, fl := subjects(b, sdk)
	ctx := context.Background()
	if fl != nil {
		bare := subs[0].db
		b.Run("op=query/db=sdk-floor", func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				if err := fl.around(ctx, func(ctx context.Context) error {
					return bare.QueryRowContext(ctx, "SELECT n FROM t WHERE id = $1", 1).Scan(&n)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=exec/db=sdk-floor", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := fl.around(ctx, func(ctx context.Context) error {
					_, err := bare.ExecContext(ctx, "UPDATE t SET n = n + 1 WHERE id = $1", 1)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
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
	subs, spans, _ := subjects(t, true)
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
