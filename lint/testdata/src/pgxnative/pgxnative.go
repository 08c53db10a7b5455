// Package pgxnative: pgx and pgconn, with and without securepg's
// configuration.
package pgxnative

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/securepg/securepg"
)

func bypasses(ctx context.Context, dsn string, param *pgx.ConnConfig) {
	pgx.Connect(ctx, dsn)                                      // want `pgx.Connect bypasses the securepg policy: call securepg.ConfigurePgx\(cfg\)`
	pgx.ConnectWithOptions(ctx, dsn, pgx.ParseConfigOptions{}) // want `pgx.ConnectWithOptions bypasses the securepg policy`

	cfg, _ := pgx.ParseConfig(dsn)
	pgx.ConnectConfig(ctx, cfg) // want `pgx.ConnectConfig with a configuration securepg has not configured bypasses the securepg policy: call securepg.ConfigurePgx\(cfg\)`

	// A parameter configured by the caller: dataflow does not cross
	// functions.
	pgx.ConnectConfig(ctx, param) // want `pgx.ConnectConfig with a configuration securepg has not configured`

	// Configured after the call: source order counts.
	late, _ := pgx.ParseConfig(dsn)
	pgx.ConnectConfig(ctx, late) // want `pgx.ConnectConfig with a configuration`
	if err := securepg.ConfigurePgx(late); err != nil {
		return
	}

	// Another configuration was configured, not this one.
	one, _ := pgx.ParseConfig(dsn)
	other, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(one); err != nil {
		return
	}
	pgx.ConnectConfig(ctx, other) // want `pgx.ConnectConfig with a configuration`

	pgx.ConnectConfig(ctx, must(pgx.ParseConfig(dsn))) // want `pgx.ConnectConfig with a configuration`

	// A plain field handed to securepg does not configure the configuration.
	host, _ := pgx.ParseConfig(dsn)
	securepg.CheckHost(host.Host)
	pgx.ConnectConfig(ctx, host) // want `pgx.ConnectConfig with a configuration`

	pgconn.Connect(ctx, dsn)                                         // want `pgconn.Connect bypasses the securepg policy: use pgx with securepg.ConfigurePgx`
	pgconn.ConnectWithOptions(ctx, dsn, pgconn.ParseConfigOptions{}) // want `pgconn.ConnectWithOptions bypasses`
	pc, _ := pgconn.ParseConfig(dsn)
	pgconn.ConnectConfig(ctx, pc) // want `pgconn.ConnectConfig with a configuration securepg has not configured`
}

func configured(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	if err := securepg.ConfigurePgx(cfg); err != nil {
		return err
	}
	pgx.ConnectConfig(ctx, cfg)
	pgx.ConnectConfig(ctx, &*cfg)

	// Configured in a closure, used later: same top-level function, but
	// a check inside the closure is not seen to stop what follows it.
	inner, _ := pgx.ParseConfig(dsn)
	func() {
		if err := securepg.ConfigurePgx(inner); err != nil {
			panic(err)
		}
	}()
	go func() { pgx.ConnectConfig(ctx, inner) }() // want `pgx.ConnectConfig with a configuration securepg configures on another branch only`

	// The embedded pgconn.Config of a configured pgx config.
	pgconn.ConnectConfig(ctx, &cfg.Config)
	return nil
}

type service struct {
	cfg   *pgx.ConnConfig
	other *pgx.ConnConfig
}

func (s *service) connect(ctx context.Context) {
	if err := securepg.ConfigurePgx(s.cfg); err != nil {
		return
	}
	pgx.ConnectConfig(ctx, s.cfg)
	pgx.ConnectConfig(ctx, s.other) // want `pgx.ConnectConfig with a configuration`
}

func must[T any](v T, err error) T { return v }
