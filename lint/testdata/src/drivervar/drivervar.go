// Package drivervar: driver names held in variables and constants.
package drivervar

import (
	"database/sql"
	"os"

	"github.com/jmoiron/sqlx"
)

const pgxName = "pgx"

var driverName = "postgres"

var (
	fromEnv  = os.Getenv("DB_DRIVER")
	safeName = "securepg"
)

type config struct{ driver string }

func opens(dsn string) {
	sql.Open(pgxName, dsn)    // want `sql.Open with driver "pgx" bypasses the securepg policy`
	sql.Open(driverName, dsn) // want `sql.Open with driver "postgres" bypasses the securepg policy`

	d := "pgx/v5"
	sql.Open(d, dsn) // want `sql.Open with driver "pgx/v5" bypasses`

	var name string
	name = "postgres"
	alias := name
	sqlx.Open(alias, dsn) // want `sqlx.Open with driver "postgres" bypasses`

	// Assigned a securepg name on one path and lib/pq's on another.
	which := "securepg"
	if len(dsn) > 100 {
		which = "postgres"
	}
	sql.Open(which, dsn) // want `sql.Open with driver "postgres" bypasses`
}

func notReported(dsn string, c config) {
	sql.Open(fromEnv, dsn) // not a constant anywhere: cannot tell
	sql.Open(safeName, dsn)
	n := "securepg-pq"
	sql.Open(n, dsn)
	sql.Open(c.driver, dsn) // a field: not followed
}
