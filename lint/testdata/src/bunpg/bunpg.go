// Package bunpg: bun's own PostgreSQL driver.
package bunpg

import (
	"database/sql"

	"github.com/uptrace/bun/driver/pgdriver"
)

func bypasses(dsn string) {
	pgdriver.NewConnector(pgdriver.WithDSN(dsn)) // want `pgdriver.NewConnector bypasses the securepg policy: use sql.Open\("securepg", dsn\) with bun's pgdialect`
	sql.Open("pg", dsn)                          // want `sql.Open with driver "pg" bypasses`
}

func notReported(dsn string) {
	sql.Open("securepg", dsn) // bun.NewDB(sqldb, pgdialect.New()) then
}
