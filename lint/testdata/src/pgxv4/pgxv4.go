// Package pgxv4: pgx v4, which securepg does not configure.
package pgxv4

import (
	"context"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
	"github.com/jackc/pgx/v4/stdlib"
)

func bypasses(ctx context.Context, dsn string) {
	pgx.Connect(ctx, dsn) // want `pgx.Connect bypasses the securepg policy: securepg works with pgx v5`
	cfg, _ := pgx.ParseConfig(dsn)
	pgx.ConnectConfig(ctx, cfg) // want `pgx.ConnectConfig bypasses`
	pgxpool.Connect(ctx, dsn)   // want `pgxpool.Connect bypasses`
	pcfg, _ := pgxpool.ParseConfig(dsn)
	pgxpool.ConnectConfig(ctx, pcfg) // want `pgxpool.ConnectConfig bypasses`
	stdlib.OpenDB(*cfg)              // want `stdlib.OpenDB bypasses`
	stdlib.GetConnector(*cfg)        // want `stdlib.GetConnector bypasses`
	pgconn.Connect(ctx, dsn)         // want `pgconn.Connect bypasses the securepg policy: securepg works with pgx v5`
	pgconn.ConnectConfig(ctx, nil)   // want `pgconn.ConnectConfig bypasses`
}
