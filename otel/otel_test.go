package otel_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab/labtest"
	"github.com/securepg/securepg/libpq"
	securepgotel "github.com/securepg/securepg/otel"
	"github.com/securepg/securepg/sqlmocktest"
)

// These tests need no server: go-sqlmock stands in for it, through
// securepg's real chain.

const dsn = "host=db.internal port=6432 user=app dbname=orders sslmode=verify-full"

func isolate(t *testing.T) { labtest.IsolateEnv(t) }

func quiet() securepg.Option { return securepg.WithLogger(slog.New(slog.DiscardHandler)) }

func attrs(sp sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range sp.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// TestFollowsTheGlobalProvider: securepg opened before the application
// installs its SDK still reports to it. The test owns this binary's globals.
func TestFollowsTheGlobalProvider(t *testing.T) {
	isolate(t)
	db, mock, err := sqlmocktest.New(t, dsn, sqlmocktest.WithSecurepg(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	mock.ExpectExec("DELETE").WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectExec("DELETE").WillReturnResult(sqlmock.NewResult(0, 0))
	if _, err := db.Exec("DELETE FROM carts"); err != nil { // no provider yet
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	gotel.SetTracerProvider(tp)
	if _, err := db.Exec("DELETE FROM carts"); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "DELETE carts" {
		t.Fatalf("spans after installing the SDK: %d", len(spans))
	}
}

func TestSpanDetails(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolate(t)
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			var filtered []string
			db, mock, err := sqlmocktest.New(t, dsn, sqlmocktest.WithSqlmock(sqlmock.MonitorPingsOption(true)),
				sqlmocktest.WithSecurepg(quiet(), map[string]securepg.Option{"pgx": nil, "pq": libpq.Backend()}[drv], securepg.WithTracerProvider(tp), securepg.WithQueryText(true),
					securepg.WithSpanFilter(func(_ context.Context, op, query string) bool {
						if strings.Contains(query, "noisy") {
							filtered = append(filtered, op)
							return false
						}
						return true
					})))
			if err != nil {
				t.Fatal(err)
			}
			pgErr := error(&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"})
			if drv == "pq" {
				pgErr = &pq.Error{Code: "23505", Message: "duplicate key value violates unique constraint"}
			}
			mock.ExpectPing()
			mock.ExpectExec("INSERT INTO users").WillReturnError(pgErr)
			mock.ExpectQuery("SELECT noisy").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
			mock.ExpectQuery("SELECT name FROM users").WillReturnRows(sqlmock.NewRows([]string{"name"}).AddRow("x"))

			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("INSERT INTO users (email, pw) VALUES ('a@b.c', 'Zq7-literal')"); err == nil {
				t.Fatal("want the unique violation")
			}
			var n int
			if err := db.QueryRow("SELECT noisy FROM metrics").Scan(&n); err != nil {
				t.Fatal(err)
			}
			var name string
			if err := db.QueryRow("SELECT name FROM users WHERE id = $1", 5).Scan(&name); err != nil {
				t.Fatal(err)
			}
			var names []string
			byName := map[string]sdktrace.ReadOnlySpan{}
			for _, sp := range rec.Ended() {
				names = append(names, sp.Name())
				byName[sp.Name()] = sp
			}
			if got := strings.Join(names, ","); got != "securepg.connect,PING,INSERT users,SELECT users" {
				t.Fatalf("spans %s", got)
			}
			if len(filtered) != 1 || filtered[0] != "query" {
				t.Fatalf("filter saw %v", filtered)
			}
			ins := byName["INSERT users"]
			a := attrs(ins)
			if a["db.response.status_code"] != "23505" || a["error.type"] != "23505" || ins.Status().Code != codes.Error {
				t.Errorf("error attributes %v, status %v", a, ins.Status())
			}
			if a["db.query.text"] != "INSERT INTO users (email, pw) VALUES (?, ?)" {
				t.Errorf("db.query.text = %q", a["db.query.text"])
			}
			if a["server.address"] != "db.internal" || a["server.port"] != "6432" || a["db.namespace"] != "orders" {
				t.Errorf("connection attributes %v", a)
			}
			c := attrs(byName["securepg.connect"])
			if c["tls.protocol.version"] != "1.3" || c["securepg.tls.verification"] != "verify-full" || c["securepg.policy.outcome"] != "allowed" {
				t.Errorf("connect attributes %v", c)
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRegisterDBStatsWithoutSecurepg(t *testing.T) {
	db, _, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	reg, err := securepgotel.RegisterDBStats(db, securepgotel.WithMeterProvider(mp), securepgotel.WithPoolName("orders-replica"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != "db.client.connection.count" {
			continue
		}
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			v, _ := dp.Attributes.Value(attribute.Key("db.client.connection.pool.name"))
			found = found || v.AsString() == "orders-replica"
		}
	}
	if !found {
		t.Fatal("no connection.count for the named pool")
	}
	if _, err := securepgotel.RegisterDBStats(nil); err == nil {
		t.Fatal("nil *sql.DB accepted")
	}
	var _ *sql.DB = db
}
