// Package wrapped wraps and returns every error, through database/sql on
// securepg's pgx backend and pgx itself, and checks server errors as
// *pgconn.PgError.
package wrapped

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/securepg/securepg"
)

// ErrDuplicate is returned for a unique violation.
var ErrDuplicate = errors.New("duplicate")

const driverName = "securepg"

// OpenSQL opens database/sql on securepg.
func OpenSQL(dsn string) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return db, nil
}

// Connect opens a pgx connection.
func Connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err = securepg.ConfigurePgx(cfg); err != nil {
		return nil, fmt.Errorf("securepg: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// Classify maps a server error.
func Classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrDuplicate, pgErr.Code)
	}
	switch e := err.(type) {
	case *pgconn.PgError:
		return fmt.Errorf("server: %s", e.Code)
	}
	return err
}
