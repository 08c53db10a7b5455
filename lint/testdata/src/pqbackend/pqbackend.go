// Package pqbackend keeps lib/pq behind securepg ("securepg-pq"): its
// *pq.Error checks match and are not reported.
package pqbackend

import (
	"database/sql"
	"errors"

	"github.com/lib/pq"
)

func open(dsn string) (*sql.DB, error) { return sql.Open("securepg-pq", dsn) }

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	_, ok := err.(*pq.Error)
	return ok
}
