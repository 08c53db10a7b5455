// Package gormpg: GORM's PostgreSQL driver.
package gormpg

import (
	"database/sql"

	"github.com/securepg/securepg"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

func bypasses(dsn string) {
	gorm.Open(postgres.Open(dsn), &gorm.Config{})                              // want `postgres.Open bypasses the securepg policy: use postgres.New\(postgres.Config{DriverName: "securepg", DSN: dsn}\)`
	gorm.Open(postgres.New(postgres.Config{DSN: dsn}))                         // want `postgres.New without a DriverName \(GORM then uses pgx's driver\) bypasses the securepg policy`
	gorm.Open(postgres.New(postgres.Config{DSN: dsn, DriverName: ""}))         // want `postgres.New without a DriverName`
	gorm.Open(postgres.New(postgres.Config{DriverName: "pgx", DSN: dsn}))      // want `postgres.New with DriverName "pgx" bypasses`
	gorm.Open(postgres.New(postgres.Config{DriverName: "postgres", DSN: dsn})) // want `postgres.New with DriverName "postgres" bypasses`
}

func notReported(dsn, name string, cfg postgres.Config, db *sql.DB) {
	gorm.Open(postgres.New(postgres.Config{DriverName: "securepg", DSN: dsn}))
	gorm.Open(postgres.New(postgres.Config{DriverName: "securepg", DSN: dsn}))
	gorm.Open(postgres.New(postgres.Config{Conn: db}))
	gorm.Open(postgres.New(postgres.Config{DriverName: name, DSN: dsn})) // not a constant: cannot tell
	gorm.Open(postgres.New(cfg))                                         // not a literal: cannot tell

	sdb, _ := securepg.OpenDB(nil)
	gorm.Open(postgres.New(postgres.Config{Conn: sdb}))
}
