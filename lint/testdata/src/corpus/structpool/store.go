// Package structpool keeps its configuration and pools in structs and a
// map, and configures them in methods.
package structpool

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg"
)

// Store holds a pool per shard.
type Store struct {
	mu     sync.Mutex
	cfg    *pgxpool.Config
	pool   *pgxpool.Pool
	shards map[string]*pgxpool.Pool
}

// Open configures the store's configuration and opens its pool.
func (s *Store) Open(ctx context.Context) error {
	if s.cfg == nil {
		return errors.New("store: no configuration")
	}
	if err := securepg.ConfigurePool(s.cfg); err != nil {
		return err
	}
	var err error
	s.pool, err = pgxpool.NewWithConfig(ctx, s.cfg)
	return err
}

// Shard opens one more pool and keeps it in the map.
func (s *Store) Shard(ctx context.Context, name, dsn string) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams = map[string]string{"application_name": name}
	if err = securepg.ConfigurePool(cfg); err != nil {
		return nil, err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.shards[name] = p
	return p, nil
}

// Listener holds a single connection's configuration.
type Listener struct {
	conf struct{ conn *pgx.ConnConfig }
}

func (l *Listener) configure() error { return securepg.ConfigurePgx(l.conf.conn) }

// Dial connects the listener.
func (l *Listener) Dial(ctx context.Context) (*pgx.Conn, error) {
	if err := securepg.ConfigurePgx(l.conf.conn); err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, l.conf.conn)
}
