package integrations_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/XSAM/otelsql"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/securepg/securepg"
)

// TestOtelsqlOperationSpans: XSAM/otelsql wrapped around securepg makes a
// span per query, and so does securepg: two per query. With
// SECUREPG_OPERATION_SPANS=false (no code) there is one, otelsql's, and
// securepg's connect span remains. The application installs its SDK
// globally, as applications do; securepg gets no option.
func TestOtelsqlOperationSpans(t *testing.T) {
	opens := []struct {
		name string
		open func(t *testing.T, dsn string, opts ...otelsql.Option) *sql.DB
	}{
		{"otelsql.Open", func(t *testing.T, dsn string, opts ...otelsql.Option) *sql.DB {
			db, err := otelsql.Open("securepg", dsn, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return db
		}},
		{"otelsql.OpenDB(securepg.NewConnector)", func(t *testing.T, dsn string, opts ...otelsql.Option) *sql.DB {
			c, err := securepg.NewConnector(dsn)
			if err != nil {
				t.Fatal(err)
			}
			return otelsql.OpenDB(c, opts...)
		}},
	}
	cases := []struct {
		name        string
		env         string
		securepgOps int // securepg's spans for the two operations
	}{
		{"double spans by default", "", 2},
		{"SECUREPG_OPERATION_SPANS=false", "false", 0},
	}
	backends(t, func(t *testing.T, name, dsn, _ string) {
		for _, o := range opens {
			for _, tc := range cases {
				t.Run(o.name+"/"+tc.name, func(t *testing.T) {
					if tc.env != "" {
						t.Setenv("SECUREPG_OPERATION_SPANS", tc.env)
					}
					sr := tracetest.NewSpanRecorder()
					tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
					otel.SetTracerProvider(tp)
					t.Cleanup(func() {
						otel.SetTracerProvider(tracenoop.NewTracerProvider())
						tp.Shutdown(context.Background())
					})

					db := o.open(t, dsn, otelsql.WithSpanOptions(otelsql.SpanOptions{OmitRows: true, OmitConnResetSession: true}))
					t.Cleanup(func() { db.Close() })
					db.SetMaxOpenConns(1)
					ctx := context.Background()
					if err := db.PingContext(ctx); err != nil {
						t.Fatal(err)
					}
					if !hasSpan(sr, "securepg.connect") {
						t.Fatal("no securepg.connect span")
					}
					sr.Reset()

					var ssl bool
					err := db.QueryRowContext(ctx, sslQuery+" AND $1::int = 1", 1).Scan(&ssl)
					wantSSL(t, ssl, err)
					if _, err := db.ExecContext(ctx, "SELECT pg_catalog.set_config('application_name', $1, false)", "otelsql"); err != nil {
						t.Fatal(err)
					}

					var otelsqlSpans, securepgSpans []string
					for _, sp := range sr.Ended() {
						if strings.HasPrefix(sp.Name(), "sql.") {
							otelsqlSpans = append(otelsqlSpans, sp.Name())
						} else {
							securepgSpans = append(securepgSpans, sp.Name())
						}
					}
					if len(otelsqlSpans) != 2 {
						t.Errorf("otelsql's spans: %v, want sql.conn.query and sql.conn.exec", otelsqlSpans)
					}
					if len(securepgSpans) != tc.securepgOps {
						t.Errorf("securepg's spans: %v, want %d", securepgSpans, tc.securepgOps)
					}

					// What the README says: under otelsql, Raw hands over
					// otelsql's conn, not pgx's *stdlib.Conn.
					conn, err := db.Conn(ctx)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					conn.Raw(func(dc any) error {
						if _, ok := dc.(*stdlib.Conn); ok {
							t.Error("Raw handed over *stdlib.Conn under otelsql: update the README")
						}
						return nil
					})
				})
			}
		}
	})
}

func hasSpan(sr *tracetest.SpanRecorder, name string) bool {
	for _, sp := range sr.Ended() {
		if sp.Name() == name {
			return true
		}
	}
	return false
}
