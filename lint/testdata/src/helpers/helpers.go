// Package helpers: configuring in a helper of the same package. A helper
// that returns a configuration it configured (checking or returning the
// error), or that configures one passed in by pointer, is accepted at its
// callers; one that ignores the error, or configures on one path only, is
// not.
package helpers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

func poolConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if err := securepg.ConfigurePool(cfg); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return cfg, nil
}

func configure(cfg *pgxpool.Config) error {
	cfg.MaxConns = 4
	return securepg.ConfigurePool(cfg)
}

func configureConn(cfg *pgx.ConnConfig) error {
	err := securepg.ConfigurePgx(cfg)
	return err
}

// mustConfigure returns no error: it stops.
func mustConfigure(cfg *pgxpool.Config) {
	if err := securepg.ConfigurePool(cfg); err != nil {
		panic(err)
	}
}

// twice goes through another helper.
func twice(dsn string) (*pgxpool.Config, error) {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 2
	return cfg, nil
}

func good(ctx context.Context, dsn string) error {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return err
	}
	pgxpool.NewWithConfig(ctx, cfg)

	c2, _ := pgxpool.ParseConfig(dsn)
	if err := configure(c2); err != nil {
		return err
	}
	pgxpool.NewWithConfig(ctx, c2)

	c3, _ := pgx.ParseConfig(dsn)
	if err := configureConn(c3); err != nil {
		return err
	}
	pgx.ConnectConfig(ctx, c3)

	c4, _ := pgxpool.ParseConfig(dsn)
	mustConfigure(c4)
	pgxpool.NewWithConfig(ctx, c4)

	c5, err := twice(dsn)
	if err != nil {
		return err
	}
	pgxpool.NewWithConfig(ctx, c5)
	return nil
}

func ignoresError(dsn string) *pgxpool.Config {
	cfg, _ := pgxpool.ParseConfig(dsn)
	securepg.ConfigurePool(cfg) // want `ignoring the error of securepg.ConfigurePool bypasses`
	return cfg
}

func onePath(cfg *pgxpool.Config, strict bool) error {
	if strict {
		return securepg.ConfigurePool(cfg)
	}
	return nil
}

func notConfiguring(cfg *pgxpool.Config) error {
	cfg.MaxConns = 4
	return nil
}

func bad(ctx context.Context, dsn string) error {
	pgxpool.NewWithConfig(ctx, ignoresError(dsn)) // want `pgxpool.NewWithConfig with a configuration securepg has not configured`

	c2, _ := pgxpool.ParseConfig(dsn)
	if err := onePath(c2, false); err != nil {
		return err
	}
	pgxpool.NewWithConfig(ctx, c2) // want `pgxpool.NewWithConfig with a configuration securepg has not configured`

	c3, _ := pgxpool.ParseConfig(dsn)
	if err := notConfiguring(c3); err != nil {
		return err
	}
	pgxpool.NewWithConfig(ctx, c3) // want `pgxpool.NewWithConfig with a configuration securepg has not configured`

	// The helper's error is the configuring error: it must be checked.
	c4, _ := pgxpool.ParseConfig(dsn)
	_ = configure(c4)
	pgxpool.NewWithConfig(ctx, c4) // want `pgxpool.NewWithConfig with a configuration whose configure error is ignored`

	// A configuration from a helper, then changed.
	c5, err := poolConfig(dsn)
	if err != nil {
		return err
	}
	c5.ConnConfig.TLSConfig = nil
	pgxpool.NewWithConfig(ctx, c5) // want `whose TLSConfig is set after securepg configured it`
	return nil
}
