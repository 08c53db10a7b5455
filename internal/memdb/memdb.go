// Package memdb is an in-memory database/sql driver that answers every
// query with the same rows, for benchmarks that measure what a wrapper
// costs over the bare driver.
package memdb

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"io"

	"github.com/securepg/securepg/internal/core"
)

// Connector is a driver.Connector for memdb.
type Connector struct{ Rows int }

// Connect returns a new conn.
func (c Connector) Connect(context.Context) (driver.Conn, error) { return &Conn{rows: c.Rows}, nil }

// Driver returns the memdb driver.
func (c Connector) Driver() driver.Driver { return Driver{} }

// Driver is the memdb driver.
type Driver struct{}

// Open returns a new conn.
func (Driver) Open(string) (driver.Conn, error) { return &Conn{rows: 1}, nil }

// Mock serves memdb conns to a securepg connector in place of the network,
// with the facts of a TLS 1.3 verify-full connection.
type Mock struct{ Rows int }

// Connect implements core.Mock.
func (m Mock) Connect(context.Context, core.Target) (driver.Conn, core.Facts, error) {
	return &Conn{rows: m.Rows}, core.Facts{Network: "tcp", Host: "db.example.com", Port: 5432, Mode: core.ModeVerifyFull,
		TLS: true, Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, Verify: core.VerifyFull}, nil
}

// Conn is a memdb connection.
type Conn struct{ rows int }

var (
	_ driver.QueryerContext     = (*Conn)(nil)
	_ driver.ExecerContext      = (*Conn)(nil)
	_ driver.Pinger             = (*Conn)(nil)
	_ driver.SessionResetter    = (*Conn)(nil)
	_ driver.Validator          = (*Conn)(nil)
	_ driver.ConnBeginTx        = (*Conn)(nil)
	_ driver.ConnPrepareContext = (*Conn)(nil)
)

func (c *Conn) Prepare(string) (driver.Stmt, error)                          { return stmt{c}, nil }
func (c *Conn) PrepareContext(context.Context, string) (driver.Stmt, error)  { return stmt{c}, nil }
func (c *Conn) Close() error                                                 { return nil }
func (c *Conn) Begin() (driver.Tx, error)                                    { return tx{}, nil }
func (c *Conn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) { return tx{}, nil }
func (c *Conn) Ping(context.Context) error                                   { return nil }
func (c *Conn) ResetSession(context.Context) error                           { return nil }
func (c *Conn) IsValid() bool                                                { return true }

func (c *Conn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &Rows{left: c.rows}, nil
}

func (c *Conn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}

type stmt struct{ c *Conn }

func (s stmt) Close() error                               { return nil }
func (s stmt) NumInput() int                              { return -1 }
func (s stmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(1), nil }
func (s stmt) Query([]driver.Value) (driver.Rows, error)  { return &Rows{left: s.c.rows}, nil }

type tx struct{}

func (tx) Commit() error   { return nil }
func (tx) Rollback() error { return nil }

// Rows yields left rows of one int64 column.
type Rows struct{ left int }

func (r *Rows) Columns() []string { return []string{"n"} }
func (r *Rows) Close() error      { return nil }
func (r *Rows) Next(dest []driver.Value) error {
	if r.left == 0 {
		return io.EOF
	}
	r.left--
	dest[0] = int64(1)
	return nil
}
