// Package gormdialector: GORM's postgres.Dialector built by hand, judged
// as postgres.New's Config is.
package gormdialector

import (
	"database/sql"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// GORM's Dialector built directly: GORM opens pgx's own driver.
func bypasses(dsn string) {
	gorm.Open(&postgres.Dialector{Config: &postgres.Config{DSN: dsn}})                    // want `postgres.Dialector without a DriverName \(GORM then uses pgx's driver\) bypasses the securepg policy: use postgres.New`
	gorm.Open(postgres.Dialector{&postgres.Config{DSN: dsn}})                             // want `postgres.Dialector without a DriverName`
	gorm.Open(&postgres.Dialector{Config: &postgres.Config{DriverName: "pgx", DSN: dsn}}) // want `postgres.Dialector with DriverName "pgx" bypasses`
	gorm.Open(postgres.New(*&postgres.Config{DSN: dsn}))                                  // want `postgres.New without a DriverName`
}

func notReported(dsn, name string, cfg *postgres.Config, db *sql.DB) {
	gorm.Open(&postgres.Dialector{Config: &postgres.Config{DriverName: "securepg", DSN: dsn}})
	gorm.Open(&postgres.Dialector{Config: &postgres.Config{DriverName: "securepg-pq", DSN: dsn}})
	gorm.Open(&postgres.Dialector{Config: &postgres.Config{Conn: db}})
	gorm.Open(&postgres.Dialector{Config: &postgres.Config{DriverName: name, DSN: dsn}}) // not a constant: cannot tell
	gorm.Open(&postgres.Dialector{Config: cfg})                                          // not a literal: cannot tell
	gorm.Open(&postgres.Dialector{})                                                     // no Config: opens nothing
}
