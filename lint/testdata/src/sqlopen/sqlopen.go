// Package sqlopen: database/sql and its wrappers with pgx's, lib/pq's and
// bun's driver names.
package sqlopen

import (
	"context"
	"database/sql"

	"github.com/XSAM/otelsql"
	"github.com/jmoiron/sqlx"
)

const driver = "pgx"

func bypasses(ctx context.Context, dsn string) {
	sql.Open("pgx", dsn)             // want `sql.Open with driver "pgx" bypasses the securepg policy: use sql.Open\("securepg", dsn\)`
	sql.Open("pgx/v5", dsn)          // want `sql.Open with driver "pgx/v5" bypasses the securepg policy`
	sql.Open("postgres", dsn)        // want `sql.Open with driver "postgres" bypasses the securepg policy: use sql.Open\("securepg-pq", dsn\)`
	sql.Open("pg", dsn)              // want `sql.Open with driver "pg" bypasses the securepg policy: use sql.Open\("securepg", dsn\) with bun's pgdialect`
	sql.Open(driver, dsn)            // want `sql.Open with driver "pgx" bypasses`
	sql.Open(("post" + "gres"), dsn) // want `sql.Open with driver "postgres" bypasses`

	sqlx.Open("postgres", dsn)           // want `sqlx.Open with driver "postgres" bypasses`
	sqlx.MustOpen("pgx", dsn)            // want `sqlx.MustOpen with driver "pgx" bypasses`
	sqlx.Connect("pgx", dsn)             // want `sqlx.Connect with driver "pgx" bypasses`
	sqlx.MustConnect("postgres", dsn)    // want `sqlx.MustConnect with driver "postgres" bypasses`
	sqlx.ConnectContext(ctx, "pgx", dsn) // want `sqlx.ConnectContext with driver "pgx" bypasses`
	otelsql.Open("pgx", dsn)             // want `otelsql.Open with driver "pgx" bypasses`
	db, err := sql.Open("postgres", dsn) // want `sql.Open with driver "postgres" bypasses`
	_, _ = db, err
}

func notReported(ctx context.Context, name, dsn string) {
	sql.Open("securepg", dsn)
	sql.Open("securepg", dsn)
	sql.Open("securepg-pq", dsn)
	sql.Open("sqlite3", dsn)
	sql.Open(name, dsn) // not a constant: cannot tell, not reported
	sqlx.Open("securepg", dsn)
	sqlx.ConnectContext(ctx, "securepg", dsn)
	otelsql.Open("securepg", dsn)
	sql.OpenDB(nil) // the connector is judged where it is made
}
