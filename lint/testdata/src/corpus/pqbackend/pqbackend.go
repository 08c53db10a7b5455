// Package pqbackend is a lib/pq application moved to securepg with
// "securepg-pq": its *pq.Error checks still match.
package pqbackend

import (
	"database/sql"
	"errors"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/lib/pq"
)

var driverName = "securepg-pq"

// Open opens the database.
func Open(dsn string) (*sql.DB, error) { return sql.Open(driverName, dsn) }

// Listen listens for notifications through securepg.
func Listen(dsn string) (*libpq.Listener, error) {
	return libpq.NewListener(dsn, time.Second, time.Minute, nil)
}

// Unique reports a unique violation.
func Unique(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	if e, ok := err.(*pq.Error); ok {
		return e.Code == "23505"
	}
	return false
}
