// Package configcopy: securepg functions that take a configuration and
// copy it (OpenDB) leave it unconfigured; only
// ConfigurePgx and ConfigurePool configure it. No securepg function
// secures a lib/pq connector handed to it.
package configcopy

import (
	"context"
	"database/sql"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"github.com/securepg/securepg"
)

// OpenDB does not change cfg: the pgx.ConnectConfig below connects with
// pgx alone.
func openDBThenConnect(ctx context.Context, dsn string) (*sql.DB, *pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	db, err := securepg.OpenDB(cfg)
	if err != nil {
		return nil, nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg) // want `pgx.ConnectConfig with a configuration securepg has not configured bypasses`
	return db, conn, err
}

// OpenDB copies cfg: any connect on it afterwards is pgx alone.
func openThenConnect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, _ := pgx.ParseConfig(dsn)
	_, _ = securepg.OpenDB(cfg)
	stdlib.OpenDB(*cfg)                    // want `stdlib.OpenDB with a configuration securepg has not configured`
	pgconn.ConnectConfig(ctx, &cfg.Config) // want `pgconn.ConnectConfig with a configuration securepg has not configured`
	return pgx.ConnectConfig(ctx, cfg)     // want `pgx.ConnectConfig with a configuration securepg has not configured bypasses`
}

// A *sql.DB from the pool's ConnConfig, and the pool itself unconfigured.
func poolAndDB(ctx context.Context, dsn string) (*pgxpool.Pool, *sql.DB, error) {
	pc, _ := pgxpool.ParseConfig(dsn)
	db, _ := securepg.OpenDB(pc.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, pc) // want `pgxpool.NewWithConfig with a configuration securepg has not configured bypasses`
	return pool, db, err
}

// ConfigurePgx on one configuration does not configure another that
// shares a root: a field of the pool other than ConnConfig.
type pair struct {
	a, b *pgx.ConnConfig
}

func (p *pair) connect(ctx context.Context) {
	if err := securepg.ConfigurePgx(p.a); err != nil {
		return
	}
	pgx.ConnectConfig(ctx, p.a)
	pgx.ConnectConfig(ctx, p.b) // want `pgx.ConnectConfig with a configuration securepg has not configured`
}

// lib/pq's connector handed to libpq.ConnectorWithNoticeHandler is
// lib/pq's still.
func pqConnectorToSecurepg(dsn string, h func(*pq.Error)) {
	c, _ := pq.NewConnector(dsn) // want `pq.NewConnector bypasses`
	sql.OpenDB(libpq.ConnectorWithNoticeHandler(c, h))
}

// What does configure a configuration: ConfigurePool configures the
// pool's ConnConfig, and ConfigurePgx on the pool's ConnConfig is
// ConfigurePool.
func configured(ctx context.Context, dsn string) {
	pc, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePool(pc); err != nil {
		return
	}
	pgx.ConnectConfig(ctx, pc.ConnConfig)
	stdlib.OpenDB(*pc.ConnConfig)
	pgxpool.NewWithConfig(ctx, pc)

	pc2, _ := pgxpool.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(pc2.ConnConfig); err != nil {
		return
	}
	pgxpool.NewWithConfig(ctx, pc2)

	cfg, _ := pgx.ParseConfig(dsn)
	if err := securepg.ConfigurePgx(cfg); err != nil {
		return
	}
	_, _ = securepg.OpenDB(cfg)
	pgx.ConnectConfig(ctx, cfg)
}
