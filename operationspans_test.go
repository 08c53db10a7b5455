package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/securepg/securepg"
)

// TestOperationSpansOff: with SECUREPG_OPERATION_SPANS=false (or
// WithOperationSpans(false)) a query, an exec and a transaction make no
// span, while the connect span and the operation metrics remain. An
// option overrides the variable.
func TestOperationSpansOff(t *testing.T) {
	l := getLab(t)
	cases := []struct {
		name  string
		env   string
		opts  []securepg.Option
		spans bool // operations get spans
	}{
		{"variable false", "false", nil, false},
		{"variable FALSE", "FALSE", nil, false},
		{"option false", "", []securepg.Option{securepg.WithOperationSpans(false)}, false},
		{"option true over variable false", "false", []securepg.Option{securepg.WithOperationSpans(true)}, true},
		{"variable true", "true", nil, true},
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range cases {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				if tc.env != "" {
					t.Setenv("SECUREPG_OPERATION_SPANS", tc.env)
				}
				s := newSDK(t)
				db := s.openVerified(t, l, drv, tc.opts...) // connects: the connect span
				db.SetMaxOpenConns(1)
				ctx := context.Background()
				runOperations(t, ctx, db)

				var connects, ops []string
				for _, sp := range s.spans.Ended() {
					if sp.Name() == "securepg.connect" {
						connects = append(connects, sp.Name())
					} else {
						ops = append(ops, sp.Name())
					}
				}
				if len(connects) == 0 {
					t.Error("no securepg.connect span: connect spans must stay")
				}
				if tc.spans && len(ops) == 0 {
					t.Error("operation spans are on, yet no operation made a span")
				}
				if !tc.spans && len(ops) != 0 {
					t.Errorf("operation spans are off, yet got %v", ops)
				}

				// The metrics stay either way.
				m, ok := s.metrics(t)["db.client.operation.duration"]
				if !ok {
					t.Fatal("no db.client.operation.duration")
				}
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok {
					t.Fatalf("db.client.operation.duration is %T", m.Data)
				}
				var selects uint64
				for _, dp := range h.DataPoints {
					if matches(dp.Attributes, map[string]string{"db.operation.name": "SELECT"}) {
						selects += dp.Count
					}
				}
				if selects == 0 {
					t.Error("no SELECT recorded in db.client.operation.duration")
				}
				if a := sumInt(t, s.metrics(t)["securepg.connection.attempts"], map[string]string{"securepg.policy.outcome": "allowed"}); a == 0 {
					t.Error("securepg.connection.attempts counted no allowed connection")
				}
			})
		}
	}
}

// TestOperationSpansOffPgxPool: the variable applies to pools configured
// by ConfigurePool too.
func TestOperationSpansOffPgxPool(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_OPERATION_SPANS", "false")
	s := newSDK(t)
	pc, err := pgxpool.ParseConfig(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := securepg.ConfigurePool(pc, s.opts...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
		t.Fatalf("query: %d, %v", n, err)
	}
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	var connects int
	for _, sp := range s.spans.Ended() {
		if sp.Name() == "securepg.connect" {
			connects++
		} else {
			t.Errorf("operation spans are off, yet got %q", sp.Name())
		}
	}
	if connects == 0 {
		t.Error("no securepg.connect span: connect spans must stay")
	}
}

// runOperations runs a query with an argument, an exec and a transaction.
func runOperations(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
		t.Fatalf("query: %d, %v", n, err)
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_catalog.set_config('application_name', $1, false)", "opspans"); err != nil {
		t.Fatalf("exec: %v", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestOperationSpansInvalidVariable: an invalid value is an error at
// sql.Open that names the variable, not its value.
func TestOperationSpansInvalidVariable(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_OPERATION_SPANS", "Zq7-not-a-bool")
	_, err := securepg.NewConnector("host=localhost sslmode=verify-full")
	if err == nil {
		t.Fatal("an invalid SECUREPG_OPERATION_SPANS was accepted")
	}
	if !strings.Contains(err.Error(), "SECUREPG_OPERATION_SPANS") || strings.Contains(err.Error(), "Zq7") {
		t.Errorf("error %q: want the variable's name and not its value", err)
	}
	if _, err := sql.Open("securepg", "host=localhost sslmode=verify-full"); err == nil {
		t.Error("sql.Open accepted an invalid SECUREPG_OPERATION_SPANS")
	}
}
