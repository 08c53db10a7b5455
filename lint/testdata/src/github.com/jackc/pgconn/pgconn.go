// Package pgconn is a stub of pgconn v1 (pgx v4's): the names the analyzer
// matches, with their signatures.
package pgconn

import "context"

type Config struct{}

type PgConn struct{}

func Connect(ctx context.Context, connString string) (*PgConn, error) { return nil, nil }

func ConnectConfig(ctx context.Context, config *Config) (*PgConn, error) { return nil, nil }
