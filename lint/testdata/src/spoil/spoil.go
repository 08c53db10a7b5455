// Package spoil: a configuration reassigned, or its TLSConfig, DialFunc,
// LookupFunc or Tracer set or cleared, after securepg configured it.
package spoil

import (
	"context"
	"crypto/tls"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

type tracer struct{ next pgx.QueryTracer }

func (tracer) TraceQueryStart() {}

func spoiled(ctx context.Context, dsn string, other *pgxpool.Config) error {
	cfg, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(cfg); err != nil {
		return err
	}
	cfg.ConnConfig.TLSConfig = nil
	pgxpool.NewWithConfig(ctx, cfg) // want `pgxpool.NewWithConfig with a configuration whose TLSConfig is set after securepg configured it \(cfg.ConnConfig.TLSConfig\) bypasses the securepg policy: connect only after`

	c2, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c2); err != nil {
		return err
	}
	c2.ConnConfig.DialFunc = nil
	pgxpool.NewWithConfig(ctx, c2) // want `whose DialFunc is set after securepg configured it`

	c3, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(c3); err != nil {
		return err
	}
	c3.Tracer = tracer{}
	pgx.ConnectConfig(ctx, c3) // want `whose Tracer is set after securepg configured it \(c3.Tracer\)`

	c4, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(c4); err != nil {
		return err
	}
	c4.LookupFunc = nil
	c4.TLSConfig.InsecureSkipVerify = true
	pgx.ConnectConfig(ctx, c4) // want `whose LookupFunc is set after securepg configured it`

	c5, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(c5); err != nil {
		return err
	}
	c5.TLSConfig.InsecureSkipVerify = true
	pgx.ConnectConfig(ctx, c5) // want `whose TLSConfig is set after securepg configured it \(c5.TLSConfig.InsecureSkipVerify\)`

	c6, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c6); err != nil {
		return err
	}
	c6, _ = pgxpool.ParseConfig(dsn + " sslmode=disable")
	pgxpool.NewWithConfig(ctx, c6) // want `pgxpool.NewWithConfig with a configuration reassigned after securepg configured it \(c6\)`

	c7, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c7); err != nil {
		return err
	}
	c7.ConnConfig, _ = pgx.ParseConfig(dsn)
	pgxpool.NewWithConfig(ctx, c7) // want `whose ConnConfig is replaced after securepg configured it \(c7.ConnConfig\)`

	c8, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c8); err != nil {
		return err
	}
	*c8 = *other
	pgxpool.NewWithConfig(ctx, c8) // want `reassigned after securepg configured it \(c8\)`

	c9, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(c9); err != nil {
		return err
	}
	c9.DialFunc = nil
	c9.Fallbacks = nil
	pgx.ConnectConfig(ctx, c9) // want `whose DialFunc is set after securepg configured it`
	return nil
}

// What does not undo securepg's configuration.
func kept(ctx context.Context, dsn string) error {
	cfg, _ := pgxpool.ParseConfig(dsn)
	cfg.ConnConfig.TLSConfig = &tls.Config{} // before: securepg judges it
	if err := securepg.ConfigurePool(cfg); err != nil {
		return err
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.Host = "db"
	cfg.ConnConfig.Tracer = tracer{next: cfg.ConnConfig.Tracer} // wraps securepg's
	pgxpool.NewWithConfig(ctx, cfg)

	// Reconfigured after a change: judged from the last configuring.
	c2, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(c2); err != nil {
		return err
	}
	c2.TLSConfig = nil
	if err := securepg.ConfigurePgx(c2); err != nil {
		return err
	}
	pgx.ConnectConfig(ctx, c2)
	return nil
}
