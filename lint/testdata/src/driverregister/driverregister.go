// Package driverregister: pgx's and lib/pq's database/sql drivers
// registered under another name, wrapped, or opened directly.
package driverregister

import (
	"database/sql"
	"database/sql/driver"

	"github.com/XSAM/otelsql"
	stdlib4 "github.com/jackc/pgx/v4/stdlib"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"github.com/securepg/securepg"
)

func bypasses(dsn string) {
	sql.Register("mypg", stdlib.GetDefaultDriver())   // want `sql.Register with pgx's driver bypasses the securepg policy: use securepg's drivers`
	sql.Register("mypq", &pq.Driver{})                // want `sql.Register with lib/pq's driver bypasses`
	sql.Register("mypq2", pq.Driver{})                // want `sql.Register with lib/pq's driver bypasses`
	sql.Register("mypg4", stdlib4.GetDefaultDriver()) // want `sql.Register with pgx's driver bypasses`
	d := stdlib.GetDefaultDriver()
	sql.Register("mypg2", d) // want `sql.Register with pgx's driver bypasses`

	sql.Register("otelpg", otelsql.WrapDriver(stdlib.GetDefaultDriver())) // want `otelsql.WrapDriver with pgx's driver bypasses the securepg policy: use otelsql.Open\("securepg", dsn\)`
	otelsql.Register("pgx")                                               // want `otelsql.Register with driver "pgx" bypasses the securepg policy: use otelsql.Open\("securepg", dsn\)`
	otelsql.Register("postgres")                                          // want `otelsql.Register with driver "postgres" bypasses`

	stdlib.GetDefaultDriver().Open(dsn)                                 // want `Open on pgx's database/sql driver bypasses`
	pq.Driver{}.Open(dsn)                                               // want `Open on lib/pq's database/sql driver bypasses`
	stdlib.GetDefaultDriver().(driver.DriverContext).OpenConnector(dsn) // not followed through a type assertion
	(&stdlib.Driver{}).OpenConnector(dsn)                               // want `OpenConnector on pgx's database/sql driver bypasses`
	otelsql.Open("pgx", dsn)                                            // want `otelsql.Open with driver "pgx" bypasses the securepg policy: use sql.Open\("securepg", dsn\)`
}

func notReported(dsn string, other driver.Driver) {
	sql.Register("other", other) // not known to be pgx's or lib/pq's
	otelsql.Register("securepg")
	otelsql.Open("securepg", dsn)
	c, _ := securepg.NewConnector(dsn)
	otelsql.OpenDB(c)
	sql.Register("wrapped", otelsql.WrapDriver(other))
}
