package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/lab/labtest"
	"github.com/securepg/securepg/libpq"
	"github.com/securepg/securepg/sqlmocktest"
)

// These tests need no server: go-sqlmock stands in for it.

const dsn = "host=db.internal user=app dbname=app sslmode=verify-full"

func quiet() securepg.Option { return securepg.WithLogger(slog.New(slog.DiscardHandler)) }

func TestQueryEventsOnTheWrapperPath(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} { // the mock path is the same whichever driver is configured
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			var log []string
			note := func(name string) func(context.Context, *hooks.QueryEvent) {
				return func(_ context.Context, q *hooks.QueryEvent) {
					log = append(log, fmt.Sprintf("%s %s %q args=%d err=%v", name, q.Op, q.SQL, len(q.Args), q.Err != nil))
				}
			}
			db, mock, err := sqlmocktest.New(t, dsn, sqlmocktest.WithSecurepg(quiet(), map[string]securepg.Option{"pgx": nil, "pq": libpq.Backend()}[drv],
				securepg.WithHooks(hooks.Hooks{BeforeQuery: func(ctx context.Context, q *hooks.QueryEvent) context.Context {
					note("before#0")(ctx, q)
					return ctx
				}, AfterQuery: note("after#0")}),
				securepg.WithHooks(hooks.Hooks{QueryArgs: true, AfterQuery: note("after#1")}),
			))
			if err != nil {
				t.Fatal(err)
			}
			mock.ExpectExec("UPDATE").WithArgs("Zq7-arg").WillReturnResult(sqlmock.NewResult(0, 1))
			mock.ExpectQuery("SELECT").WillReturnError(errors.New("boom"))
			if _, err := db.Exec("UPDATE t SET secret = $1", "Zq7-arg"); err != nil {
				t.Fatal(err)
			}
			db.Query("SELECT 1")
			want := strings.Join([]string{
				`before#0 exec "UPDATE t SET secret = $1" args=0 err=false`,
				`after#1 exec "UPDATE t SET secret = $1" args=1 err=false`, // only the set that asked sees arguments
				`after#0 exec "UPDATE t SET secret = $1" args=0 err=false`, // AfterQuery runs in reverse order
				`before#0 query "SELECT 1" args=0 err=false`,
				`after#1 query "SELECT 1" args=0 err=true`,
				`after#0 query "SELECT 1" args=0 err=true`,
			}, "\n")
			if got := strings.Join(log, "\n"); got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestAfterConnectRejectsSimulatedTLS12(t *testing.T) {
	labtest.IsolateEnv(t)
	mustBe13 := hooks.Hooks{AfterConnect: func(_ context.Context, c hooks.ConnInfo) error {
		if c.Version < 0x0304 {
			return errors.New("this service requires TLS 1.3")
		}
		return nil
	}}
	db, _, err := sqlmocktest.New(t, dsn, sqlmocktest.WithTLS(sqlmocktest.TLS{Version: 0x0303}),
		sqlmocktest.WithSecurepg(quiet(), securepg.WithHooks(mustBe13)))
	if err != nil {
		t.Fatal(err)
	}
	var he *hooks.Error
	if err := db.Ping(); !errors.As(err, &he) || he.Hook != "AfterConnect" {
		t.Fatalf("err = %v", err)
	}
}
