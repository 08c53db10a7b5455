// Package pgconn is a stub of pgx v5's pgconn: the names the analyzer
// matches, with their signatures.
package pgconn

import "context"

type Config struct{ Host string }

type ParseConfigOptions struct{}

type PgConn struct{}

func ParseConfig(connString string) (*Config, error) { return &Config{}, nil }

func Connect(ctx context.Context, connString string) (*PgConn, error) { return nil, nil }

func ConnectWithOptions(ctx context.Context, connString string, options ParseConfigOptions) (*PgConn, error) {
	return nil, nil
}

func ConnectConfig(ctx context.Context, config *Config) (*PgConn, error) { return nil, nil }
