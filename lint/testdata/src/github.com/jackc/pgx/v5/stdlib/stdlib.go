// Package stdlib is a stub of pgx v5's stdlib: the names the analyzer
// matches, with their signatures.
package stdlib

import (
	"database/sql"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type OptionOpenDB func()

func GetConnector(config pgx.ConnConfig, opts ...OptionOpenDB) driver.Connector { return nil }

func GetPoolConnector(pool *pgxpool.Pool, opts ...OptionOpenDB) driver.Connector { return nil }

func OpenDB(config pgx.ConnConfig, opts ...OptionOpenDB) *sql.DB { return nil }

func OpenDBFromPool(pool *pgxpool.Pool, opts ...OptionOpenDB) *sql.DB { return nil }

func RegisterConnConfig(c *pgx.ConnConfig) string { return "" }

type Driver struct{}

func (d *Driver) Open(name string) (driver.Conn, error) { return nil, nil }

func (d *Driver) OpenConnector(name string) (driver.Connector, error) { return nil, nil }

func GetDefaultDriver() driver.Driver { return &Driver{} }
