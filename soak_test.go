package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/lab/labtest"
)

type failedSpan struct {
	status string
	end    time.Time
}

// spanWatch is a span processor that keeps nothing: it counts the spans
// by name and looks for a secret in each. The suite's global recorder
// keeps every span, which would grow the heap with the number of queries
// and hide (or fake) a leak.
type spanWatch struct {
	secret string
	mu     sync.Mutex
	names  map[string]int
	leaked string
	failed []failedSpan // connect spans that ended in an error
}

func (w *spanWatch) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (w *spanWatch) OnEnd(s sdktrace.ReadOnlySpan) {
	var b strings.Builder
	b.WriteString(s.Name())
	b.WriteString(s.Status().Description)
	for _, kv := range s.Attributes() {
		b.WriteString(kv.Value.String())
	}
	for _, ev := range s.Events() {
		b.WriteString(ev.Name)
		for _, kv := range ev.Attributes {
			b.WriteString(kv.Value.String())
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.names == nil {
		w.names = map[string]int{}
	}
	w.names[s.Name()]++
	if s.Name() == "securepg.connect" && s.Status().Code == codes.Error {
		w.failed = append(w.failed, failedSpan{s.Status().Description, s.EndTime()})
	}
	if w.leaked == "" && strings.Contains(b.String(), w.secret) {
		w.leaked = s.Name()
	}
}

func (w *spanWatch) Shutdown(context.Context) error   { return nil }
func (w *spanWatch) ForceFlush(context.Context) error { return nil }

// TestSoak: 64 goroutines run 20,000 queries through one *sql.DB whose
// connections live 50 ms, so that they churn all the time, on each
// backend, with an OpenTelemetry SDK (tracer and meter providers of its
// own, that keep nothing: see spanWatch). Every query asks the server
// whether its session is encrypted (pg_stat_ssl), and every answer must
// be yes; no query may fail; every new connection is verify-full TLS;
// no password reaches a span, a metric or a log record. Afterwards no
// goroutine started by the test is left (goleak), the open file
// descriptors are back to where they were, and the heap in use at the
// end of the run is within a generous factor of what it was halfway
// (both measured after a collection, with the workers still running).
func TestSoak(t *testing.T) {
	labtest.Slow(t, "20,000 queries per backend")
	l := getLab(t)
	const (
		workers  = 64
		total    = 20000
		pool     = 24 // the shared server allows 60 connections
		lifetime = 50 * time.Millisecond
	)
	for _, drv := range backends {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			leaks := noLeaks(t)
			spans := &spanWatch{secret: l.Password}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			logs := &secretWatch{secret: []byte(l.Password)}
			var validated, unverified atomic.Int64
			check := hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
				validated.Add(1)
				if !ci.TLS || ci.Verification != "verify-full" || len(ci.PeerCertificates) == 0 {
					unverified.Add(1)
				}
				return nil
			}}
			sc, err := securepg.NewConnector(verifiedDSN(l.Cluster), withBackend(drv), securepg.WithHooks(check),
				securepg.WithTracerProvider(tp), securepg.WithMeterProvider(mp), securepg.WithLogger(logs.logger()))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(sc)
			db.SetMaxOpenConns(pool)
			db.SetMaxIdleConns(pool)
			db.SetConnMaxLifetime(lifetime)

			var (
				next, done, plain atomic.Int64
				mu                sync.Mutex
				failures          []error
				nFailures         int
				mid, end          runtime.MemStats
				wg                sync.WaitGroup
			)
			// Heap in use after a collection, under the same load: halfway,
			// and when the last queries are in flight.
			measure := func(n int64) {
				switch n {
				case total / 2:
					runtime.GC()
					runtime.ReadMemStats(&mid)
				case total - workers:
					runtime.GC()
					runtime.ReadMemStats(&end)
				}
			}
			start := time.Now()
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= total {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						var ssl bool
						err := db.QueryRowContext(ctx, sslQuery).Scan(&ssl)
						cancel()
						if err != nil {
							mu.Lock()
							nFailures++
							if len(failures) < 5 {
								failures = append(failures, err)
							}
							mu.Unlock()
						} else if !ssl {
							plain.Add(1)
						}
						measure(done.Add(1))
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			loadDone := time.Now()
			stats := db.Stats()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			// db.Close does not wait for a connect database/sql's opener has
			// in flight: waiting for every goroutine to end (the leak check)
			// lets it end its span and record its metrics first.
			leaks()

			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := mp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}

			spans.mu.Lock()
			names := fmt.Sprint(spans.names)
			connectSpans := spans.names["securepg.connect"]
			leakedIn := spans.leaked
			failedConnects := spans.failed
			spans.mu.Unlock()
			t.Logf("%s: %d queries by %d goroutines in %v (%.0f/s); %d connections made (%d closed at their lifetime); "+
				"heap in use %.1f MiB halfway, %.1f MiB at the end; spans %s; %d log records",
				drv, done.Load(), workers, took.Round(time.Millisecond), float64(done.Load())/took.Seconds(),
				validated.Load(), stats.MaxLifetimeClosed, float64(mid.HeapInuse)/(1<<20), float64(end.HeapInuse)/(1<<20),
				names, logs.records.Load())

			if nFailures != 0 {
				t.Errorf("%d queries failed, e.g. %v", nFailures, failures)
			}
			if plain.Load() != 0 {
				t.Errorf("%d queries ran on sessions that pg_stat_ssl says are not encrypted", plain.Load())
			}
			if done.Load() != total {
				t.Errorf("%d queries ran, want %d", done.Load(), total)
			}
			// Churn: far more connections than the pool holds.
			if validated.Load() < 4*pool {
				t.Errorf("only %d connections were made: the pool did not churn", validated.Load())
			}
			if unverified.Load() != 0 {
				t.Errorf("%d connections were not verify-full TLS", unverified.Load())
			}
			// A connect database/sql's opener had in flight when db.Close
			// cancelled it ends in an error span and makes no connection.
			for _, f := range failedConnects {
				if f.end.Before(loadDone) {
					t.Errorf("a connect failed during the load: %s", f.status)
				}
			}
			// Every validated connection has its successful connect span,
			// except one whose AfterConnect hook ran just as db.Close
			// cancelled its context: it is then closed, and its span (a
			// failed one, after the load) says so.
			made := int64(connectSpans - len(failedConnects))
			if v := validated.Load(); made > v || v > made+int64(len(failedConnects)) {
				t.Errorf("%d connect spans (%d failed) for %d validated connections", connectSpans, len(failedConnects), v)
			}
			var attempts int64
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name == "securepg.connection.attempts" {
						attempts = sumInt(t, m, map[string]string{"securepg.policy.outcome": "allowed"})
					}
				}
			}
			if attempts != made {
				t.Errorf("securepg.connection.attempts{allowed} = %d for %d connections made", attempts, made)
			}
			mj, err := json.Marshal(rm.ScopeMetrics)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(mj, []byte(l.Password)) {
				t.Error("the password is in a metric")
			}
			if leakedIn != "" {
				t.Errorf("the password is in a %s span", leakedIn)
			}
			if logs.leaked.Load() {
				t.Error("the password is in securepg's log")
			}
			if mid.HeapInuse == 0 || end.HeapInuse == 0 {
				t.Fatal("the heap was not measured")
			}
			// A factor of two, and never less than 4 MiB of room: the heap
			// is small, and a collection under load leaves some noise.
			if end.HeapInuse > max(2*mid.HeapInuse, mid.HeapInuse+4<<20) {
				t.Errorf("heap in use grew from %d bytes halfway to %d at the end", mid.HeapInuse, end.HeapInuse)
			}
		})
	}
}
