package securepg

import (
	"context"
	"database/sql/driver"
	"reflect"

	"github.com/securepg/securepg/internal/core"
)

//go:generate go run ./internal/cmd/genwrap

// wconn wraps a driver.Conn that offers no hooks of its own (lib/pq). The
// value handed to database/sql is built by pickConn so that it has exactly
// the optional interfaces of the inner conn: claiming one the inner lacks
// would change what database/sql does.
type wconn struct {
	inner driver.Conn
	facts core.Facts
}

func (w *wconn) securepgFacts() core.Facts { return w.facts }

var (
	_ driver.Conn = (*wconn)(nil)
	_ unwrapper   = (*wconn)(nil)
)

// unwrapper is implemented by every securepg wrapper.
type unwrapper interface{ Unwrap() driver.Conn }

// Unwrap returns the underlying driver's conn.
func (w *wconn) Unwrap() driver.Conn { return w.inner }

func (w *wconn) Prepare(query string) (driver.Stmt, error) {
	s, err := w.inner.Prepare(query)
	if err != nil {
		return nil, err
	}
	return pickStmt(&wstmt{inner: s}), nil
}

func (w *wconn) Close() error { return w.inner.Close() }

func (w *wconn) Begin() (driver.Tx, error) {
	//lint:ignore SA1019 database/sql calls Begin when the inner conn lacks ConnBeginTx; so must we.
	tx, err := w.inner.Begin()
	if err != nil {
		return nil, err
	}
	return &wtx{inner: tx}, nil
}

type connPinger struct{ w *wconn }

func (p connPinger) Ping(ctx context.Context) error { return p.w.inner.(driver.Pinger).Ping(ctx) }

type connSessionResetter struct{ w *wconn }

func (p connSessionResetter) ResetSession(ctx context.Context) error {
	return p.w.inner.(driver.SessionResetter).ResetSession(ctx)
}

type connValidator struct{ w *wconn }

func (p connValidator) IsValid() bool { return p.w.inner.(driver.Validator).IsValid() }

type connNamedValueChecker struct{ w *wconn }

func (p connNamedValueChecker) CheckNamedValue(nv *driver.NamedValue) error {
	return p.w.inner.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type connQueryerContext struct{ w *wconn }

func (p connQueryerContext) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := p.w.inner.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil {
		return nil, err // driver.ErrSkip passes through untouched
	}
	return pickRows(wrows{inner: rows}), nil
}

type connExecerContext struct{ w *wconn }

func (p connExecerContext) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return p.w.inner.(driver.ExecerContext).ExecContext(ctx, query, args)
}

type connPrepareContext struct{ w *wconn }

func (p connPrepareContext) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := p.w.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return pickStmt(&wstmt{inner: s}), nil
}

type connBeginTx struct{ w *wconn }

func (p connBeginTx) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := p.w.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &wtx{inner: tx}, nil
}

type wtx struct{ inner driver.Tx }

var _ driver.Tx = (*wtx)(nil)

func (t *wtx) Commit() error   { return t.inner.Commit() }
func (t *wtx) Rollback() error { return t.inner.Rollback() }

// wstmt wraps a prepared statement; pickStmt gives it the inner's interfaces.
type wstmt struct{ inner driver.Stmt }

var _ driver.Stmt = (*wstmt)(nil)

func (s *wstmt) Close() error  { return s.inner.Close() }
func (s *wstmt) NumInput() int { return s.inner.NumInput() }

func (s *wstmt) Exec(args []driver.Value) (driver.Result, error) {
	//lint:ignore SA1019 database/sql's own fallback when the inner lacks StmtExecContext.
	return s.inner.Exec(args)
}

func (s *wstmt) Query(args []driver.Value) (driver.Rows, error) {
	//lint:ignore SA1019 database/sql's own fallback when the inner lacks StmtQueryContext.
	rows, err := s.inner.Query(args)
	if err != nil {
		return nil, err
	}
	return pickRows(wrows{inner: rows}), nil
}

type stmtExecContext struct{ w *wstmt }

func (p stmtExecContext) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return p.w.inner.(driver.StmtExecContext).ExecContext(ctx, args)
}

type stmtQueryContext struct{ w *wstmt }

func (p stmtQueryContext) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := p.w.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return pickRows(wrows{inner: rows}), nil
}

type stmtNamedValueChecker struct{ w *wstmt }

func (p stmtNamedValueChecker) CheckNamedValue(nv *driver.NamedValue) error {
	return p.w.inner.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type stmtColumnConverter struct{ w *wstmt }

func (p stmtColumnConverter) ColumnConverter(idx int) driver.ValueConverter {
	//lint:ignore SA1019 database/sql still consults ColumnConverter.
	return p.w.inner.(driver.ColumnConverter).ColumnConverter(idx)
}

// wrows wraps a result set; pickRows gives it the inner's interfaces, so
// ColumnType.ScanType and friends report what the driver reports.
type wrows struct{ inner driver.Rows }

var _ driver.Rows = (*wrows)(nil)

func (r *wrows) Columns() []string              { return r.inner.Columns() }
func (r *wrows) Close() error                   { return r.inner.Close() }
func (r *wrows) Next(dest []driver.Value) error { return r.inner.Next(dest) }

type rowsNextResultSet struct{ inner driver.Rows }

func (p rowsNextResultSet) HasNextResultSet() bool {
	return p.inner.(driver.RowsNextResultSet).HasNextResultSet()
}
func (p rowsNextResultSet) NextResultSet() error {
	return p.inner.(driver.RowsNextResultSet).NextResultSet()
}

type rowsScanType struct{ inner driver.Rows }

func (p rowsScanType) ColumnTypeScanType(i int) reflect.Type {
	return p.inner.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

type rowsDatabaseTypeName struct{ inner driver.Rows }

func (p rowsDatabaseTypeName) ColumnTypeDatabaseTypeName(i int) string {
	return p.inner.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

type rowsLength struct{ inner driver.Rows }

func (p rowsLength) ColumnTypeLength(i int) (int64, bool) {
	return p.inner.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

type rowsNullable struct{ inner driver.Rows }

func (p rowsNullable) ColumnTypeNullable(i int) (bool, bool) {
	return p.inner.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

type rowsPrecisionScale struct{ inner driver.Rows }

func (p rowsPrecisionScale) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return p.inner.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}

// UnwrapConn returns the underlying driver's conn for a conn that
// sql.Conn.Raw hands over. With pgx the conn is pgx's own *stdlib.Conn and
// is returned as it is; with lib/pq it is securepg's wrapper, and the
// result is lib/pq's conn. Other values are returned unchanged.
func UnwrapConn(dc any) any {
	if u, ok := dc.(unwrapper); ok {
		return u.Unwrap()
	}
	return dc
}
