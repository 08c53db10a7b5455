package pqerr

import (
	"database/sql"

	"github.com/lib/pq"
	"github.com/securepg/securepg"
)

func connector(dsn string) (*sql.DB, error) {
	c, err := securepg.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func code(err error) string {
	if e, ok := err.(*pq.Error); ok { // want `\*pq.Error never matches`
		return string(e.Code)
	}
	return ""
}
