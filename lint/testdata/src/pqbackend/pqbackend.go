// Package pqbackend keeps lib/pq behind securepg ("securepg-pq", or
// securepg.NewConnector with libpq.Backend()): its
// *pq.Error checks match and are not reported.
package pqbackend

import (
	"database/sql"
	"errors"

	"github.com/lib/pq"
	"github.com/securepg/securepg"
	"github.com/securepg/securepg/libpq"
)

func open(dsn string) (*sql.DB, error) { return sql.Open("securepg-pq", dsn) }

// connector is lib/pq too: securepg.NewConnector with libpq.Backend().
func connector(dsn string) (*sql.DB, error) {
	c, err := securepg.NewConnector(dsn, libpq.Backend())
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	_, ok := err.(*pq.Error)
	return ok
}
