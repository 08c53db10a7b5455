// Package gorm is a stub of GORM: the names the fixtures use.
package gorm

import (
	"context"
	"database/sql"
)

type ConnPool interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

type Dialector interface{ Name() string }

type Config struct{}

type DB struct{}

func Open(dialector Dialector, opts ...*Config) (*DB, error) { return &DB{}, nil }
