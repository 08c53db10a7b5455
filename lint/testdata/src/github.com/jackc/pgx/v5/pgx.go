// Package pgx is a stub of pgx v5: the names the analyzer matches, with
// their signatures.
package pgx

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"
)

type QueryTracer interface{ TraceQueryStart() }

type ConnConfig struct {
	pgconn.Config
	Tracer QueryTracer
}

type ParseConfigOptions struct{}

type Conn struct{}

func ParseConfig(connString string) (*ConnConfig, error) { return &ConnConfig{}, nil }

func Connect(ctx context.Context, connString string) (*Conn, error) { return nil, nil }

func ConnectWithOptions(ctx context.Context, connString string, options ParseConfigOptions) (*Conn, error) {
	return nil, nil
}

func ConnectConfig(ctx context.Context, connConfig *ConnConfig) (*Conn, error) { return nil, nil }
