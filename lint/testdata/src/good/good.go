// Package good is how securepg is meant to be used: nothing is reported.
package good

import (
	"context"
	"database/sql"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"github.com/securepg/securepg"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

func databaseSQL(dsn string) (*sql.DB, error) {
	db, err := sql.Open("securepg", dsn)
	if err != nil {
		return nil, err
	}
	_, _ = sql.Open("securepg", dsn)
	_, _ = sql.Open("securepg-pq", dsn)
	c, err := securepg.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	_ = sql.OpenDB(c)
	return db, nil
}

func pool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 10
	if err := securepg.ConfigurePool(cfg); err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

func conn(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if err = securepg.ConfigurePgx(cfg); err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func builtInCode(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if _, err := securepg.OpenDB(cfg); err != nil {
		return nil, err
	}
	return sql.Open("securepg", stdlib.RegisterConnConfig(cfg))
}

func listener(dsn string) (*pq.Listener, error) {
	d, err := libpq.NewListenerDialer(dsn)
	if err != nil {
		return nil, err
	}
	return pq.NewDialListener(d, d.DSN(), time.Second, time.Minute, nil), nil
}

func listenerDirect(dsn string) (*libpq.Listener, error) {
	return libpq.NewListener(dsn, time.Second, time.Minute, nil)
}

func orm(dsn string, db *sql.DB) {
	gorm.Open(postgres.New(postgres.Config{DriverName: "securepg", DSN: dsn}))
	gorm.Open(postgres.New(postgres.Config{Conn: db}))
}
