// Package pgxpool is a stub of pgx v4's pgxpool: the names the analyzer
// matches, with their signatures.
package pgxpool

import "context"

type Config struct{}

type Pool struct{}

func ParseConfig(connString string) (*Config, error) { return &Config{}, nil }

func Connect(ctx context.Context, connString string) (*Pool, error) { return nil, nil }

func ConnectConfig(ctx context.Context, config *Config) (*Pool, error) { return nil, nil }
