// Package configerr: the error of securepg.ConfigurePgx and ConfigurePool
// ignored, only logged, or checked on one branch only: the connect is
// reached when securepg refused the configuration.
package configerr

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

func ignored(ctx context.Context, dsn string) {
	cfg, _ := pgxpool.ParseConfig(dsn)
	_ = securepg.ConfigurePool(cfg)
	pgxpool.NewWithConfig(ctx, cfg) // want `pgxpool.NewWithConfig with a configuration whose securepg.ConfigurePool error is ignored bypasses the securepg policy: connect only after`

	c2, _ := pgx.ParseConfig(dsn)
	securepg.ConfigurePgx(c2)
	pgx.ConnectConfig(ctx, c2) // want `pgx.ConnectConfig with a configuration whose securepg.ConfigurePgx error is ignored`
}

// Ignored, with no connect in sight: reported where it is ignored.
func ignoredAlone(dsn string) *pgxpool.Config {
	cfg, _ := pgxpool.ParseConfig(dsn)
	securepg.ConfigurePool(cfg)     // want `ignoring the error of securepg.ConfigurePool bypasses the securepg policy`
	_ = securepg.ConfigurePool(cfg) // want `ignoring the error of securepg.ConfigurePool bypasses`
	return cfg
}

func logged(ctx context.Context, dsn string) {
	cfg, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(cfg); err != nil {
		log.Printf("securepg: %v", err)
	}
	pgxpool.NewWithConfig(ctx, cfg) // want `pgxpool.NewWithConfig reached when securepg.ConfigurePool fails \(its error is not checked on every path to it\)`

	c2, _ := pgxpool.ParseConfig(dsn)
	err := securepg.ConfigurePool(c2)
	log.Print(err)
	pgxpool.NewWithConfig(ctx, c2) // want `pgxpool.NewWithConfig reached when securepg.ConfigurePool fails`

	c3, _ := pgxpool.ParseConfig(dsn)
	log.Print(securepg.ConfigurePool(c3))
	pgxpool.NewWithConfig(ctx, c3) // want `pgxpool.NewWithConfig reached when securepg.ConfigurePool fails \(its error is not checked\)`
}

func oneBranch(ctx context.Context, dsn string, strict bool) error {
	cfg, _ := pgxpool.ParseConfig(dsn)
	if strict {
		if err := securepg.ConfigurePool(cfg); err != nil {
			return err
		}
	}
	pgxpool.NewWithConfig(ctx, cfg) // want `pgxpool.NewWithConfig with a configuration securepg configures on another branch only`

	c2, _ := pgxpool.ParseConfig(dsn)
	err := securepg.ConfigurePool(c2)
	if err != nil && strict {
		return err
	}
	pgxpool.NewWithConfig(ctx, c2) // want `pgxpool.NewWithConfig reached when securepg.ConfigurePool fails`

	c3, _ := pgxpool.ParseConfig(dsn)
	err = securepg.ConfigurePool(c3)
	if err != nil {
		log.Print(err)
	} else {
		pgxpool.NewWithConfig(ctx, c3)
	}
	pgxpool.NewWithConfig(ctx, c3) // want `pgxpool.NewWithConfig reached when securepg.ConfigurePool fails`

	// Checked after the connect.
	c4, _ := pgxpool.ParseConfig(dsn)
	err = securepg.ConfigurePool(c4)
	pgxpool.NewWithConfig(ctx, c4) // want `pgxpool.NewWithConfig reached when securepg.ConfigurePool fails`
	return err
}

// The forms of a check that stops the connect: none is reported.
func checked(ctx context.Context, dsn string) error {
	cfg, _ := pgxpool.ParseConfig(dsn)
	if securepg.ConfigurePool(cfg) != nil {
		return nil
	}
	pgxpool.NewWithConfig(ctx, cfg)

	c2, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c2); err == nil {
		pgxpool.NewWithConfig(ctx, c2)
	}

	c3, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c3); err != nil {
		log.Print(err)
	} else {
		pgxpool.NewWithConfig(ctx, c3)
	}

	c4, _ := pgxpool.ParseConfig(dsn)
	err := securepg.ConfigurePool(c4)
	if err != nil {
		log.Fatalf("securepg: %v", err)
	}
	pgxpool.NewWithConfig(ctx, c4)

	c5, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(c5); err != nil {
		panic(err)
	}
	pgxpool.NewWithConfig(ctx, c5)

	for _, d := range []string{dsn} {
		c, _ := pgxpool.ParseConfig(d)
		if err := securepg.ConfigurePool(c); err != nil {
			log.Print(err)
			continue
		}
		pgxpool.NewWithConfig(ctx, c)
	}
	return nil
}
