// Package constructor configures its pool in the constructor, after
// setting hooks securepg does not own, and connects single conns through
// a helper that configures a configuration passed in.
package constructor

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

type tracer struct{ next pgx.QueryTracer }

func (tracer) TraceQueryStart() {}

// Repo is a repository over a pool.
type Repo struct{ pool *pgxpool.Pool }

// NewRepo builds the repository.
func NewRepo(ctx context.Context, dsn string) (*Repo, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 16
	cfg.ConnConfig.Tracer = tracer{} // before: securepg combines it with its own
	err = securepg.ConfigurePool(cfg)
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	cfg.ConnConfig.Tracer = tracer{next: cfg.ConnConfig.Tracer}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	return &Repo{pool: pool}, nil
}

func secure(cfg *pgx.ConnConfig, name string) error {
	cfg.RuntimeParams = map[string]string{"application_name": name}
	if err := securepg.ConfigurePgx(cfg); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Conn opens a single connection.
func (r *Repo) Conn(ctx context.Context, dsn string) *pgx.Conn {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		log.Fatal(err)
	}
	if err := secure(cfg, "worker"); err != nil {
		log.Fatalf("securepg: %v", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	return conn
}
