// Package helpers is a service's database package: a constructor that
// builds the pool from a configuration a helper configured, with options.
package helpers

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

// Option tunes the pool.
type Option func(*pgxpool.Config)

// WithMaxConns sets the pool size.
func WithMaxConns(n int32) Option { return func(c *pgxpool.Config) { c.MaxConns = n } }

// DB is the service's handle.
type DB struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

func newConfig(dsn string, opts ...Option) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("db: parse: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	if err := securepg.ConfigurePool(cfg); err != nil {
		return nil, fmt.Errorf("db: securepg: %w", err)
	}
	return cfg, nil
}

// New opens the pool.
func New(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	cfg, err := newConfig(dsn, opts...)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	return &DB{pool: pool, timeout: 5 * time.Second}, nil
}

// Replica opens a second pool on the same configuration helper.
func (db *DB) Replica(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := newConfig(dsn, WithMaxConns(2))
	if err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}
