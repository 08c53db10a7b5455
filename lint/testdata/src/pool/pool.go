// Package pool: pgxpool, with and without securepg's configuration.
package pool

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

var global, _ = pgxpool.New(context.Background(), "") // want `pgxpool.New bypasses the securepg policy: call securepg.ConfigurePool\(cfg\)`

func bypasses(ctx context.Context, dsn string) {
	pgxpool.New(ctx, dsn) // want `pgxpool.New bypasses the securepg policy`

	cfg, _ := pgxpool.ParseConfig(dsn)
	cfg.MaxConns = 4
	pgxpool.NewWithConfig(ctx, cfg) // want `pgxpool.NewWithConfig with a configuration securepg has not configured bypasses the securepg policy: call securepg.ConfigurePool\(cfg\)`
}

func configured(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if err := securepg.ConfigurePool(cfg); err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

func configuredByParse(ctx context.Context, dsn string) {
	cfg, _ := securepg.ParsePool(dsn)
	pgxpool.NewWithConfig(ctx, cfg)
	pgxpool.NewWithConfig(ctx, must(securepg.ParsePool(dsn)))
}

func connConfigOfPool(ctx context.Context, dsn string) {
	cfg, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(cfg.ConnConfig); err != nil {
		return
	}
	pgxpool.NewWithConfig(ctx, cfg)
}

func must[T any](v T, err error) T { return v }
