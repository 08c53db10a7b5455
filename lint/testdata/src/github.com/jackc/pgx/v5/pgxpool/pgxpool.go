// Package pgxpool is a stub of pgx v5's pgxpool: the names the analyzer
// matches, with their signatures.
package pgxpool

import (
	"context"

	"github.com/jackc/pgx/v5"
)

type Config struct {
	ConnConfig *pgx.ConnConfig
	MaxConns   int32
}

type Pool struct{}

func ParseConfig(connString string) (*Config, error) {
	return &Config{ConnConfig: &pgx.ConnConfig{}}, nil
}

func New(ctx context.Context, connString string) (*Pool, error) { return nil, nil }

func NewWithConfig(ctx context.Context, config *Config) (*Pool, error) { return nil, nil }
