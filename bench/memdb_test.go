package bench

import (
	"context"
	"database/sql/driver"
	"io"
)

// memConnector is an in-memory driver that answers every query with the
// same rows: what an instrumentation costs over it is the instrumentation.
type memConnector struct{ rows int }

func (c memConnector) Connect(context.Context) (driver.Conn, error) {
	return &memConn{rows: c.rows}, nil
}
func (c memConnector) Driver() driver.Driver { return memDriver{} }

type memDriver struct{}

func (memDriver) Open(string) (driver.Conn, error) { return &memConn{rows: 1}, nil }

type memConn struct{ rows int }

func (c *memConn) Prepare(string) (driver.Stmt, error)                          { return memStmt{c}, nil }
func (c *memConn) Close() error                                                 { return nil }
func (c *memConn) Begin() (driver.Tx, error)                                    { return memTx{}, nil }
func (c *memConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) { return memTx{}, nil }
func (c *memConn) Ping(context.Context) error                                   { return nil }
func (c *memConn) ResetSession(context.Context) error                           { return nil }
func (c *memConn) IsValid() bool                                                { return true }
func (c *memConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &memRows{left: c.rows}, nil
}
func (c *memConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}

type memStmt struct{ c *memConn }

func (s memStmt) Close() error                               { return nil }
func (s memStmt) NumInput() int                              { return -1 }
func (s memStmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(1), nil }
func (s memStmt) Query([]driver.Value) (driver.Rows, error)  { return &memRows{left: s.c.rows}, nil }

type memTx struct{}

func (memTx) Commit() error   { return nil }
func (memTx) Rollback() error { return nil }

type memRows struct{ left int }

func (r *memRows) Columns() []string { return []string{"n"} }
func (r *memRows) Close() error      { return nil }
func (r *memRows) Next(dest []driver.Value) error {
	if r.left == 0 {
		return io.EOF
	}
	r.left--
	dest[0] = int64(1)
	return nil
}
