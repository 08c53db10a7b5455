// Package pqerr opens securepg's pgx backend ("securepg") and checks
// errors against lib/pq's *pq.Error, which never matches there.
package pqerr

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
)

const driverName = "securepg"

func open(dsn string) (*sql.DB, error) { return sql.Open(driverName, dsn) }

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) { // want `\*pq.Error never matches an error of securepg's "securepg" driver: its backend is pgx, whose errors are \*pgconn.PgError; use errors.As\(err, &pgErr\) with pgErr \*pgconn.PgError`
		return pqErr.Code == "23505"
	}
	if e, ok := err.(*pq.Error); ok { // want `\*pq.Error never matches`
		return e.Code == "23505"
	}
	switch e := err.(type) { // want `\*pq.Error never matches`
	case *pq.Error:
		return e.Code == "23505"
	}
	return errors.As(err, new(*pq.Error)) // want `\*pq.Error never matches`
}

// What matches: pgconn.PgError.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
