package securepg

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"io"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
)

// memConnector is an in-memory driver that answers every query with the
// same rows, for benchmarks that measure what a wrapper costs over it.
type memConnector struct{ Rows int }

// Connect returns a new conn.
func (c memConnector) Connect(context.Context) (driver.Conn, error) {
	return &memConn{rows: c.Rows}, nil
}

// Driver returns its driver.
func (c memConnector) Driver() driver.Driver { return memDriver{} }

// memDriver is its driver.
type memDriver struct{}

// Open returns a new conn.
func (memDriver) Open(string) (driver.Conn, error) { return &memConn{rows: 1}, nil }

// memMock serves its conns to a securepg connector in place of the network,
// with the facts of a TLS 1.3 verify-full connection.
type memMock struct{ Rows int }

// Connect implements seam.Mock.
func (m memMock) Connect(context.Context, core.Target) (driver.Conn, core.Facts, error) {
	return &memConn{rows: m.Rows}, core.Facts{Network: "tcp", Host: "db.example.com", Port: 5432, Mode: core.ModeVerifyFull,
		TLS: true, Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, Verify: core.VerifyFull}, nil
}

// memConn is a connection.
type memConn struct{ rows int }

var (
	_ driver.QueryerContext     = (*memConn)(nil)
	_ driver.ExecerContext      = (*memConn)(nil)
	_ driver.Pinger             = (*memConn)(nil)
	_ driver.SessionResetter    = (*memConn)(nil)
	_ driver.Validator          = (*memConn)(nil)
	_ driver.ConnBeginTx        = (*memConn)(nil)
	_ driver.ConnPrepareContext = (*memConn)(nil)
)

func (c *memConn) Prepare(string) (driver.Stmt, error) { return memStmt{c}, nil }
func (c *memConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return memStmt{c}, nil
}
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

// memRows yields left rows of one int64 column.
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

// mockConnector is NewConnector(dsn, opts...) serving its conns from m, as
// sqlmocktest.New makes one.
func mockConnector(dsn string, m seam.Mock, opts ...Option) (*connector, error) {
	c, err := newConnector(dsn, opts)
	if err != nil {
		return nil, err
	}
	connectorSeam{c}.UseMock(m)
	return c, nil
}
