package sqlmocktest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/DATA-DOG/go-sqlmock"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/sqlmocktest"
)

// exampleT stands in for the *testing.T that a real test has.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()          {}
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// userName is the code under test: a repository function.
func userName(ctx context.Context, db *sql.DB, id int) (string, error) {
	var name string
	err := db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", id).Scan(&name)
	return name, err
}

// Testing a repository function's queries, as with plain go-sqlmock.
func Example_repository() {
	t := &exampleT{}
	defer t.done()
	quiet := sqlmocktest.WithSecurepg(securepg.WithLogger(slog.New(slog.DiscardHandler)))
	db, mock, err := sqlmocktest.New(t, "postgres://app@db.internal/app?sslmode=verify-full", quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	mock.ExpectQuery("SELECT name FROM users WHERE id = \\$1").
		WithArgs(42).
		WillReturnRows(sqlmock.NewRows([]string{"name"}).AddRow("ada"))

	name, err := userName(context.Background(), db, 42)
	fmt.Println(name, err, mock.ExpectationsWereMet())
	// Output: ada <nil> <nil>
}

// Asserting that the DSN a service ships is refused by the org policy,
// with the same error production would get.
func Example_refusedDSN() {
	t := &exampleT{}
	defer t.done()
	_, _, err := sqlmocktest.New(t, "postgres://app@db.internal/app?sslmode=require",
		sqlmocktest.WithSecurepg(securepg.WithMinSSLMode("verify-full"), securepg.WithLogger(slog.New(slog.DiscardHandler))))
	var pe *securepg.PolicyError
	fmt.Println(errors.As(err, &pe), pe.Reason)
	// Output: true unverified_certificate
}

// Asserting that a metric fired: every query is measured, and the
// connection's simulated TLS state is reported.
func Example_metric() {
	t := &exampleT{}
	defer t.done()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	db, mock, err := sqlmocktest.New(t, "host=db.internal user=app sslmode=verify-full",
		sqlmocktest.WithSecurepg(securepg.WithMeterProvider(mp)))
	if err != nil {
		fmt.Println(err)
		return
	}
	mock.ExpectExec("UPDATE accounts").WillReturnResult(sqlmock.NewResult(0, 1))
	if _, err := db.Exec("UPDATE accounts SET balance = balance + 1"); err != nil {
		fmt.Println(err)
		return
	}
	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name == "db.client.operation.duration" {
					op, _ := d.DataPoints[0].Attributes.Value("db.operation.name")
					fmt.Println(m.Name, op.AsString(), d.DataPoints[0].Count)
				}
			case metricdata.Sum[int64]:
				if m.Name == "securepg.tls.connections" {
					v, _ := d.DataPoints[0].Attributes.Value("tls.protocol.version")
					fmt.Println(m.Name, v.AsString(), d.DataPoints[0].Value)
				}
			}
		}
	}
	// Unordered output:
	// db.client.operation.duration UPDATE 1
	// securepg.tls.connections 1.3 1
}

// Asserting that a hook fired: an AfterConnect check that the application
// installs, seeing the connection's (simulated) TLS facts.
func Example_hook() {
	t := &exampleT{}
	defer t.done()
	var seen hooks.ConnInfo
	check := hooks.Hooks{AfterConnect: func(_ context.Context, c hooks.ConnInfo) error {
		seen = c
		return nil
	}}
	db, mock, err := sqlmocktest.New(t, "host=db.internal user=app sslmode=verify-full",
		sqlmocktest.WithSecurepg(securepg.WithHooks(check)))
	if err != nil {
		fmt.Println(err)
		return
	}
	mock.ExpectPing()
	fmt.Println(db.Ping(), seen.Host, seen.TLS, seen.Verification)
	// Output: <nil> db.internal true verify-full
}
