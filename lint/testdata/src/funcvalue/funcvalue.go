// Package funcvalue: functions that connect, used as values rather than
// called, so that what they connect with cannot be checked.
package funcvalue

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/securepg/securepg"
)

var open = sql.Open // want `sql.Open used as a function value bypasses the securepg policy: what it connects with cannot be checked; call it directly, and use sql.Open\("securepg", dsn\)`

type opener struct {
	connect func(context.Context, string) (*pgx.Conn, error)
}

var byName = map[string]func(context.Context, string) (*pgxpool.Pool, error){
	"pool": pgxpool.New, // want `pgxpool.New used as a function value bypasses`
}

func withRetry[T any](ctx context.Context, dsn string, f func(context.Context, string) (T, error)) (T, error) {
	return f(ctx, dsn)
}

func values(ctx context.Context, dsn string, cfg *pgxpool.Config, pcfg *pgx.ConnConfig) {
	connect := pgx.Connect // want `pgx.Connect used as a function value bypasses`
	connect(ctx, dsn)
	_ = opener{connect: pgx.Connect}                // want `pgx.Connect used as a function value`
	withRetry(ctx, dsn, pgx.Connect)                // want `pgx.Connect used as a function value`
	withRetry(ctx, dsn, pgxpool.New)                // want `pgxpool.New used as a function value`
	newWith := pgxpool.NewWithConfig                // want `pgxpool.NewWithConfig used as a function value`
	connectConfig := (pgx.ConnectConfig)            // want `pgx.ConnectConfig used as a function value`
	openDB := stdlib.OpenDB                         // want `stdlib.OpenDB used as a function value`
	fs := []any{pgx.ConnectConfig, securepg.OpenDB} // want `pgx.ConnectConfig used as a function value`
	_, _, _, _ = newWith, connectConfig, openDB, fs
}

// Calling them, and securepg's functions as values, is not reported here.
func calls(ctx context.Context, dsn string) {
	_, _ = sql.Open("securepg", dsn)
	configure := securepg.ConfigurePool
	_ = configure
	_, _ = withRetry(ctx, dsn, func(ctx context.Context, dsn string) (*sql.DB, error) {
		return sql.Open("securepg", dsn)
	})
}
