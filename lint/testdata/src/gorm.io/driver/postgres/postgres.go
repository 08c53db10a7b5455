// Package postgres is a stub of GORM's PostgreSQL driver: the names the
// analyzer matches, with their signatures.
package postgres

import "gorm.io/gorm"

type Config struct {
	DriverName           string
	DSN                  string
	WithoutQuotingCheck  bool
	PreferSimpleProtocol bool
	WithoutReturning     bool
	Conn                 gorm.ConnPool
}

type Dialector struct{ *Config }

func (Dialector) Name() string { return "postgres" }

func Open(dsn string) gorm.Dialector { return &Dialector{&Config{DSN: dsn}} }

func New(config Config) gorm.Dialector { return &Dialector{Config: &config} }
