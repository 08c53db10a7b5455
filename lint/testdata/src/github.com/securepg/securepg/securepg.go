// Package securepg is a stub of securepg's public API for the fixtures.
// The analyzer takes the result of any call into this package as
// securepg's; only ConfigurePgx and ConfigurePool configure the
// configuration they are given.
package securepg

import (
	"database/sql"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type Option func()

func NewConnector(dsn string, opts ...Option) (driver.Connector, error) { return nil, nil }

func ConfigurePgx(cfg *pgx.ConnConfig, opts ...Option) error { return nil }

func ConfigurePool(cfg *pgxpool.Config, opts ...Option) error { return nil }

func OpenDB(cfg *pgx.ConnConfig, opts ...Option) (*sql.DB, error) { return nil, nil }

// ParsePool stands for any securepg function that returns a configuration
// it has configured.
func ParsePool(dsn string, opts ...Option) (*pgxpool.Config, error) { return nil, nil }

// CheckHost stands for a securepg function that takes a plain value.
func CheckHost(host string) error { return nil }
