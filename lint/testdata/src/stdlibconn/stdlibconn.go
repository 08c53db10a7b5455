// Package stdlibconn: pgx's database/sql adapter.
package stdlibconn

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/securepg/securepg"
)

func bypasses(dsn string) {
	cfg, _ := pgx.ParseConfig(dsn)
	stdlib.OpenDB(*cfg)                             // want `stdlib.OpenDB with a configuration securepg has not configured bypasses the securepg policy: use securepg.OpenDB\(cfg\)`
	sql.OpenDB(stdlib.GetConnector(*cfg))           // want `stdlib.GetConnector with a configuration securepg has not configured`
	sql.Open("pgx", stdlib.RegisterConnConfig(cfg)) // want `sql.Open with driver "pgx" bypasses`
}

func configured(ctx context.Context, dsn string) {
	cfg, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(cfg); err != nil {
		return
	}
	stdlib.OpenDB(*cfg)
	sql.OpenDB(stdlib.GetConnector(*cfg))
	sql.Open("securepg", stdlib.RegisterConnConfig(cfg))

	// A pool is judged where it is made, not where database/sql wraps it.
	pcfg, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(pcfg); err != nil {
		return
	}
	pool, _ := pgxpool.NewWithConfig(ctx, pcfg)
	stdlib.OpenDBFromPool(pool)
	sql.OpenDB(stdlib.GetPoolConnector(pool))
}
