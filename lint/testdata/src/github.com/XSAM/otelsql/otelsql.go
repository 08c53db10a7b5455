// Package otelsql is a stub of XSAM/otelsql: the names the analyzer
// matches, with their signatures.
package otelsql

import (
	"database/sql"
	"database/sql/driver"
)

type Option interface{}

func Open(driverName, dataSourceName string, options ...Option) (*sql.DB, error) { return nil, nil }

func OpenDB(c driver.Connector, options ...Option) *sql.DB { return nil }

func Register(driverName string, options ...Option) (string, error) { return "", nil }

func WrapDriver(dri driver.Driver, options ...Option) driver.Driver { return dri }
