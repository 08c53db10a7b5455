// Package pgconn is a stub of pgx v5's pgconn: the names the analyzer
// matches, with their signatures.
package pgconn

import (
	"context"
	"crypto/tls"
	"net"
)

type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

type LookupFunc func(ctx context.Context, host string) (addrs []string, err error)

type FallbackConfig struct {
	Host      string
	TLSConfig *tls.Config
}

type Config struct {
	Host       string
	TLSConfig  *tls.Config
	DialFunc   DialFunc
	LookupFunc LookupFunc
	Fallbacks  []*FallbackConfig

	RuntimeParams map[string]string
}

// PgError is what the server reports.
type PgError struct{ Code string }

func (e *PgError) Error() string { return e.Code }

type ParseConfigOptions struct{}

type PgConn struct{}

func ParseConfig(connString string) (*Config, error) { return &Config{}, nil }

func Connect(ctx context.Context, connString string) (*PgConn, error) { return nil, nil }

func ConnectWithOptions(ctx context.Context, connString string, options ParseConfigOptions) (*PgConn, error) {
	return nil, nil
}

func ConnectConfig(ctx context.Context, config *Config) (*PgConn, error) { return nil, nil }
