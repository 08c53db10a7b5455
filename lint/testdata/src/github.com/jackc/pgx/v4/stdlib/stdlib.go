// Package stdlib is a stub of pgx v4's stdlib: the names the analyzer
// matches, with their signatures.
package stdlib

import (
	"database/sql"
	"database/sql/driver"

	"github.com/jackc/pgx/v4"
)

type OptionOpenDB func()

func GetConnector(config pgx.ConnConfig, opts ...OptionOpenDB) driver.Connector { return nil }

func OpenDB(config pgx.ConnConfig, opts ...OptionOpenDB) *sql.DB { return nil }

type Driver struct{}

func (d *Driver) Open(name string) (driver.Conn, error) { return nil, nil }

func GetDefaultDriver() driver.Driver { return &Driver{} }
