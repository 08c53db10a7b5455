package securepg_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	securepgotel "github.com/securepg/securepg/otel"
)

// sdk is a real OpenTelemetry SDK with in-memory exporters.
type sdk struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	opts   []securepg.Option
}

func newSDK(t *testing.T) *sdk {
	t.Helper()
	s := &sdk{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	s.mp = mp
	s.opts = []securepg.Option{securepg.WithTracerProvider(tp), securepg.WithMeterProvider(mp), securepg.WithLogger(discardLogger())}
	return s
}

func (s *sdk) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if name == "" || sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

func (s *sdk) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func spanAttrs(sp sdktrace.ReadOnlySpan) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range sp.Attributes() {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func wantAttrs(t *testing.T, got map[string]attribute.Value, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("attribute %s missing", k)
			continue
		}
		if w == nil {
			continue // present is enough
		}
		if v.AsInterface() != w {
			t.Errorf("%s = %v, want %v", k, v.AsInterface(), w)
		}
	}
}

func sumInt(t *testing.T, m metricdata.Metrics, match map[string]string) int64 {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, not an int64 sum", m.Name, m.Data)
	}
	var n int64
	for _, dp := range sum.DataPoints {
		if matches(dp.Attributes, match) {
			n += dp.Value
		}
	}
	return n
}

func matches(set attribute.Set, match map[string]string) bool {
	for k, v := range match {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.String() != v {
			return false
		}
	}
	return true
}

// openVerified opens a verify-full connector to the lab with the SDK's
// providers and the driver, and pings it.
func (s *sdk) openVerified(t *testing.T, l *lab, drv string, opts ...securepg.Option) *sql.DB {
	t.Helper()
	return s.open(t, l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), drv, opts...)
}

// open opens a connector to dsn with the SDK's providers and the driver,
// closed with t, and pings it; t fails if either fails.
func (s *sdk) open(t *testing.T, dsn, drv string, opts ...securepg.Option) *sql.DB {
	t.Helper()
	c, err := securepg.NewConnector(dsn, append(append(s.opts, withBackend(drv)), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestTelemetryAllowedConnection(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			s.openVerified(t, l, drv)
			spans := s.ended("securepg.connect")
			if len(spans) != 1 {
				t.Fatalf("%d connect spans, want 1", len(spans))
			}
			sp := spans[0]
			a := spanAttrs(sp)
			want := map[string]any{
				"db.system.name": "postgresql", "server.address": "localhost", "server.port": int64(l.relay.Port()),
				"db.namespace": l.Database, "tls.established": true, "tls.protocol.name": "tls", "tls.protocol.version": "1.3",
				"tls.cipher": nil, "securepg.sslmode": "verify-full", "securepg.policy.min_sslmode": "verify-full",
				"securepg.policy.outcome": "allowed", "securepg.tls.verification": "verify-full",
			}
			if drv == "pgx" {
				sum := sha256.Sum256(l.Certs.Server.Leaf.Raw)
				want["tls.server.subject"] = l.Certs.Server.Leaf.Subject.String()
				want["tls.server.issuer"] = l.Certs.CA.Subject.String()
				want["tls.server.not_after"] = l.Certs.Server.Leaf.NotAfter.UTC().Format("2006-01-02T15:04:05.000Z")
				want["tls.server.hash.sha256"] = strings.ToUpper(hex.EncodeToString(sum[:]))
			} else {
				// lib/pq: the client's view from the ServerHello, the server's from pg_stat_ssl.
				want["securepg.server.ssl"] = true
				want["securepg.server.tls.protocol.version"] = "1.3"
			}
			wantAttrs(t, a, want)
			if !strings.HasPrefix(a["tls.cipher"].AsString(), "TLS_") {
				t.Errorf("tls.cipher = %q, want an IANA name", a["tls.cipher"].AsString())
			}
			if drv == "pq" && a["securepg.server.tls.cipher"].AsString() != a["tls.cipher"].AsString() {
				// TLS 1.3 suites have the same name in OpenSSL and IANA.
				t.Errorf("client saw %s, pg_stat_ssl says %s", a["tls.cipher"].AsString(), a["securepg.server.tls.cipher"].AsString())
			}
			if _, ok := a["securepg.policy.reason"]; ok {
				t.Error("an allowed connection has a policy reason")
			}
			if sp.Status().Code == codes.Error {
				t.Error("status error on an allowed connection")
			}
			m := s.metrics(t)
			if n := sumInt(t, m["securepg.connection.attempts"], map[string]string{"securepg.policy.outcome": "allowed"}); n != 1 {
				t.Errorf("attempts{allowed} = %d", n)
			}
			if n := sumInt(t, m["securepg.tls.connections"], map[string]string{"tls.protocol.version": "1.3"}); n != 1 {
				t.Errorf("tls.connections{1.3} = %d", n)
			}
			ct, ok := m["db.client.connection.create_time"].Data.(metricdata.Histogram[float64])
			if !ok || len(ct.DataPoints) != 1 || ct.DataPoints[0].Count != 1 || m["db.client.connection.create_time"].Unit != "s" {
				t.Errorf("create_time: %+v", m["db.client.connection.create_time"])
			} else if pool, _ := ct.DataPoints[0].Attributes.Value("db.client.connection.pool.name"); pool.AsString() != "localhost:"+l.relay.PortString()+"/"+l.Database {
				t.Errorf("pool name %q", pool.AsString())
			}
			if drv == "pgx" {
				g, ok := m["securepg.tls.server.certificate.time_to_expiry"].Data.(metricdata.Gauge[float64])
				if !ok {
					t.Fatalf("no expiry gauge: %+v", m["securepg.tls.server.certificate.time_to_expiry"])
				}
				var found bool
				for _, dp := range g.DataPoints {
					if matches(dp.Attributes, map[string]string{"server.address": "localhost", "server.port": l.relay.PortString()}) {
						found = true
						left := time.Until(l.Certs.Server.Leaf.NotAfter).Seconds()
						if dp.Value > left+1 || dp.Value < left-60 {
							t.Errorf("time_to_expiry = %v, want about %v", dp.Value, left)
						}
					}
				}
				if !found {
					t.Errorf("no expiry point for localhost:%d", l.relay.Port())
				}
			}
		})
	}
}

func TestTelemetryRefusedAndAudited(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			_, err := securepg.NewConnector(l.at(l.relay, "sslmode=prefer"), append(s.opts, withBackend(drv))...)
			requireReason(t, err, securepg.ReasonPlaintextFallback)
			spans := s.ended("securepg.connect")
			if len(spans) != 1 {
				t.Fatalf("%d spans for a refusal, want 1", len(spans))
			}
			a := spanAttrs(spans[0])
			wantAttrs(t, a, map[string]any{"securepg.policy.outcome": "refused", "securepg.policy.reason": "plaintext_fallback",
				"error.type": "plaintext_fallback", "server.address": "localhost", "securepg.policy.min_sslmode": "verify-full"})
			if _, ok := a["tls.established"]; ok {
				t.Error("a refusal dialed nothing, yet reports TLS facts")
			}
			if spans[0].Status().Code != codes.Error {
				t.Error("refusal span status is not Error")
			}

			// Audit mode: the same DSN connects, and says so.
			c, err := securepg.NewConnector(l.at(l.relay, "sslmode=prefer"), append(s.opts, withBackend(drv), securepg.WithMode("audit"))...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			spans = s.ended("securepg.connect")
			a = spanAttrs(spans[len(spans)-1])
			wantAttrs(t, a, map[string]any{"securepg.policy.outcome": "audited", "securepg.policy.reason": "plaintext_fallback",
				"tls.established": true, "securepg.sslmode": "prefer"})
			m := s.metrics(t)
			v := m["securepg.policy.violations"]
			if n := sumInt(t, v, map[string]string{"securepg.policy.reason": "plaintext_fallback", "securepg.policy.outcome": "refused"}); n != 1 {
				t.Errorf("violations{refused} = %d", n)
			}
			if n := sumInt(t, v, map[string]string{"securepg.policy.reason": "plaintext_fallback", "securepg.policy.outcome": "audited"}); n != 1 {
				t.Errorf("violations{audited} = %d", n)
			}
			att := m["securepg.connection.attempts"]
			if sumInt(t, att, map[string]string{"securepg.policy.outcome": "refused"}) != 1 || sumInt(t, att, map[string]string{"securepg.policy.outcome": "audited"}) != 1 {
				t.Errorf("attempts: %+v", att.Data)
			}
		})
	}
}

func TestTelemetryLiveRefusal(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			c, err := securepg.NewConnector(l.at(l.wrongHost, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), append(s.opts, withBackend(drv))...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			requireReason(t, db.Ping(), securepg.ReasonHostnameMismatch)
			spans := s.ended("securepg.connect")
			if len(spans) != 1 {
				t.Fatalf("%d spans", len(spans))
			}
			wantAttrs(t, spanAttrs(spans[0]), map[string]any{"securepg.policy.outcome": "refused",
				"securepg.policy.reason": "hostname_mismatch", "error.type": "hostname_mismatch"})
		})
	}
}

func TestTelemetryOperations(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			db := s.openVerified(t, l, drv)
			db.SetMaxOpenConns(1)
			ctx := context.Background()
			s.spans.Reset()

			// A query with its rows: one span, ended when the rows close.
			rows, err := db.QueryContext(ctx, "SELECT g FROM generate_series(1, 3) AS g WHERE g > $1", 0)
			if err != nil {
				t.Fatal(err)
			}
			if !rows.Next() {
				t.Fatal(rows.Err())
			}
			if e := s.spans.Ended(); len(e) != 0 {
				t.Fatalf("the query span ended before its rows were read: %s", e[0].Name())
			}
			n := 1
			for rows.Next() { // the last Next closes the rows
				n++
			}
			rows.Close()
			if n != 3 || len(s.spans.Ended()) != 1 {
				t.Fatalf("%d rows, %d spans", n, len(s.spans.Ended()))
			}
			sp := s.spans.Ended()[0]
			if sp.Name() != "SELECT generate_series" {
				t.Errorf("span name %q", sp.Name())
			}
			a := spanAttrs(sp)
			wantAttrs(t, a, map[string]any{"db.system.name": "postgresql", "db.namespace": l.Database, "server.address": "localhost",
				"server.port": int64(l.relay.Port()), "db.operation.name": "SELECT", "db.collection.name": "generate_series"})
			if _, ok := a["db.query.text"]; ok {
				t.Error("db.query.text recorded without WithQueryText")
			}
			if sp.SpanKind().String() != "client" {
				t.Errorf("kind %s", sp.SpanKind())
			}

			// A query error with its SQLSTATE.
			s.spans.Reset()
			if _, err := db.ExecContext(ctx, "SELECT * FROM no_such_table"); err == nil {
				t.Fatal("expected an error")
			}
			spans := s.spans.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans for a failed query", len(spans))
			}
			wantAttrs(t, spanAttrs(spans[0]), map[string]any{"db.response.status_code": "42P01", "error.type": "42P01"})
			if spans[0].Status().Code != codes.Error {
				t.Error("status not Error")
			}

			// A transaction.
			s.spans.Reset()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "CREATE TEMP TABLE t (x int)"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES ($1)", 1); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, sp := range s.spans.Ended() {
				names = append(names, sp.Name())
			}
			if got := strings.Join(names, ","); got != "BEGIN,CREATE,INSERT t,COMMIT" {
				t.Errorf("transaction spans %s", got)
			}

			// Metrics: one duration point per operation shape, semconv buckets.
			m := s.metrics(t)
			od := m["db.client.operation.duration"]
			h, ok := od.Data.(metricdata.Histogram[float64])
			if !ok || od.Unit != "s" {
				t.Fatalf("operation.duration: %+v", od)
			}
			var failed, selects uint64
			for _, dp := range h.DataPoints {
				if matches(dp.Attributes, map[string]string{"error.type": "42P01", "db.response.status_code": "42P01"}) {
					failed += dp.Count
				}
				if matches(dp.Attributes, map[string]string{"db.operation.name": "SELECT", "db.collection.name": "generate_series", "server.address": "localhost"}) {
					selects += dp.Count
				}
				want := []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}
				if len(dp.Bounds) != len(want) {
					t.Fatalf("bounds %v, want semconv advice %v", dp.Bounds, want)
				}
			}
			if failed != 1 || selects != 1 {
				t.Errorf("failed=%d selects=%d", failed, selects)
			}
		})
	}
}

func TestTelemetryQueryText(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			db := s.openVerified(t, l, drv, securepg.WithQueryText(true))
			var x string
			if err := db.QueryRow("SELECT 'hunter2' || $1::text", "argument-value").Scan(&x); err != nil {
				t.Fatal(err)
			}
			var text string
			for _, sp := range s.spans.Ended() {
				if v, ok := spanAttrs(sp)["db.query.text"]; ok {
					text = v.AsString()
				}
				for _, kv := range sp.Attributes() {
					if strings.Contains(kv.Value.String(), "hunter2") || strings.Contains(kv.Value.String(), "argument-value") {
						t.Errorf("span %s leaks %s=%s", sp.Name(), kv.Key, kv.Value.String())
					}
				}
			}
			if text != "SELECT ? || $1::text" {
				t.Errorf("db.query.text = %q", text)
			}
		})
	}
}

func TestRegisterDBStats(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	s := newSDK(t)
	c, err := securepg.NewConnector(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), s.opts...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(3)
	pool := &sdk{reader: sdkmetric.NewManualReader()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(pool.reader))
	defer mp.Shutdown(context.Background())
	reg, err := securepgotel.RegisterDBStats(db, securepgotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background()) // one used
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := pool.metrics(t)
	name := "localhost:" + l.relay.PortString() + "/" + l.Database
	count := m["db.client.connection.count"]
	if sumInt(t, count, map[string]string{"db.client.connection.state": "used", "db.client.connection.pool.name": name}) != 1 ||
		sumInt(t, count, map[string]string{"db.client.connection.state": "idle", "db.client.connection.pool.name": name}) != 0 {
		t.Errorf("connection.count: %+v", count.Data)
	}
	if sumInt(t, m["db.client.connection.max"], map[string]string{"db.client.connection.pool.name": name}) != 3 {
		t.Errorf("connection.max: %+v", m["db.client.connection.max"].Data)
	}
	if _, ok := m["securepg.pool.wait.count"]; !ok {
		t.Error("no wait count")
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if _, ok := pool.metrics(t)["db.client.connection.count"]; ok {
		t.Error("still reported after Unregister")
	}
}
