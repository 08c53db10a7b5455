// Package pgx is a stub of pgx v4: the names the analyzer matches, with
// their signatures.
package pgx

import "context"

type ConnConfig struct{}

type Conn struct{}

func ParseConfig(connString string) (*ConnConfig, error) { return &ConnConfig{}, nil }

func Connect(ctx context.Context, connString string) (*Conn, error) { return nil, nil }

func ConnectConfig(ctx context.Context, connConfig *ConnConfig) (*Conn, error) { return nil, nil }
