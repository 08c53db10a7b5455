package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"time"

	"github.com/securepg/securepg/internal/telemetry"
)

//go:generate go run ./internal/cmd/genwrap

// wconn wraps a driver.Conn that offers no hooks of its own (lib/pq, and
// sqlmock in tests) to observe it. The value handed to database/sql is
// built by pickConn so that it has exactly the optional interfaces of the
// inner conn: claiming one the inner lacks would change what database/sql
// does.
type wconn struct {
	inner   driver.Conn
	obs     *telemetry.Conn
	hooks   *hookSet  // nil: no query hooks
	recycle time.Time // credentials expire: stop reusing the conn at this time

	// The inner conn's optional interfaces, asserted once.
	queryer  driver.QueryerContext
	execer   driver.ExecerContext
	resetter driver.SessionResetter
	validtor driver.Validator
}

// wrap makes w the wrapper of inner and returns the value for database/sql.
func (w *wconn) wrap(inner driver.Conn) driver.Conn {
	w.inner = inner
	w.queryer, _ = inner.(driver.QueryerContext)
	w.execer, _ = inner.(driver.ExecerContext)
	w.resetter, _ = inner.(driver.SessionResetter)
	w.validtor, _ = inner.(driver.Validator)
	return pickConn(w)
}

// expired reports that the conn's credentials are about to expire.
func (w *wconn) expired() bool { return !w.recycle.IsZero() && !time.Now().Before(w.recycle) }

var (
	_ driver.Conn = (*wconn)(nil)
	_ unwrapper   = (*wconn)(nil)
)

// unwrapper is implemented by every securepg wrapper.
type unwrapper interface{ Unwrap() driver.Conn }

// Unwrap returns the underlying driver's conn.
func (w *wconn) Unwrap() driver.Conn { return w.inner }

func (w *wconn) Prepare(query string) (driver.Stmt, error) {
	ctx, op := w.obs.Start(context.Background(), telemetry.KindPrepare, query)
	s, err := w.inner.Prepare(query)
	op.End(ctx, err)
	if err != nil {
		return nil, err
	}
	return pickStmt(&wstmt{inner: s, conn: w, query: query}), nil
}

func (w *wconn) Close() error { return w.inner.Close() }

func (w *wconn) Begin() (driver.Tx, error) {
	ctx, op := w.obs.Start(context.Background(), telemetry.KindBegin, "")
	//lint:ignore SA1019 database/sql calls Begin when the inner conn lacks ConnBeginTx; so must we.
	tx, err := w.inner.Begin()
	op.End(ctx, err)
	if err != nil {
		return nil, err
	}
	return &wtx{inner: tx, conn: w}, nil
}

type connPinger struct{ w *wconn }

func (p connPinger) Ping(ctx context.Context) error {
	ctx, op := p.w.obs.Start(ctx, telemetry.KindPing, "")
	err := p.w.inner.(driver.Pinger).Ping(ctx)
	op.End(ctx, err)
	return err
}

type connSessionResetter struct{ w *wconn }

func (p connSessionResetter) ResetSession(ctx context.Context) error {
	if p.w.expired() {
		return driver.ErrBadConn // database/sql discards it
	}
	ctx, op := p.w.obs.Start(ctx, telemetry.KindReset, "")
	err := p.w.resetter.ResetSession(ctx)
	op.End(ctx, err)
	return err
}

type connValidator struct{ w *wconn }

func (p connValidator) IsValid() bool { return !p.w.expired() && p.w.validtor.IsValid() }

type connNamedValueChecker struct{ w *wconn }

func (p connNamedValueChecker) CheckNamedValue(nv *driver.NamedValue) error {
	return p.w.inner.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type connQueryerContext struct{ w *wconn }

// QueryContext observes the query until its rows are closed: one span for
// the query and its rows.
func (p connQueryerContext) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ctx, c := startCall(ctx, p.w.obs, p.w.hooks, telemetry.KindQuery, query, args)
	rows, err := p.w.queryer.QueryContext(ctx, query, args)
	return observeRows(ctx, c, rows, err) // driver.ErrSkip passes through untouched
}

type connExecerContext struct{ w *wconn }

func (p connExecerContext) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx, c := startCall(ctx, p.w.obs, p.w.hooks, telemetry.KindExec, query, args)
	res, err := p.w.execer.ExecContext(ctx, query, args)
	c.end(ctx, err)
	return res, err
}

type connPrepareContext struct{ w *wconn }

func (p connPrepareContext) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	ctx, op := p.w.obs.Start(ctx, telemetry.KindPrepare, query)
	s, err := p.w.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	op.End(ctx, err)
	if err != nil {
		return nil, err
	}
	return pickStmt(&wstmt{inner: s, conn: p.w, query: query}), nil
}

type connBeginTx struct{ w *wconn }

func (p connBeginTx) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	ctx, op := p.w.obs.Start(ctx, telemetry.KindBegin, "")
	tx, err := p.w.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	op.End(ctx, err)
	if err != nil {
		return nil, err
	}
	return &wtx{inner: tx, conn: p.w}, nil
}

type wtx struct {
	inner driver.Tx
	conn  *wconn
}

var _ driver.Tx = (*wtx)(nil)

func (t *wtx) Commit() error {
	ctx, op := t.conn.obs.Start(context.Background(), telemetry.KindCommit, "")
	err := t.inner.Commit()
	op.End(ctx, err)
	return err
}

func (t *wtx) Rollback() error {
	ctx, op := t.conn.obs.Start(context.Background(), telemetry.KindRollback, "")
	err := t.inner.Rollback()
	op.End(ctx, err)
	return err
}

// wstmt wraps a prepared statement; pickStmt gives it the inner's interfaces.
type wstmt struct {
	inner driver.Stmt
	conn  *wconn
	query string
}

var _ driver.Stmt = (*wstmt)(nil)

func (s *wstmt) Close() error  { return s.inner.Close() }
func (s *wstmt) NumInput() int { return s.inner.NumInput() }

func (s *wstmt) Exec(args []driver.Value) (driver.Result, error) {
	ctx, c := startCall(context.Background(), s.conn.obs, s.conn.hooks, telemetry.KindExec, s.query, named(args))
	//lint:ignore SA1019 database/sql's own fallback when the inner lacks StmtExecContext.
	res, err := s.inner.Exec(args)
	c.end(ctx, err)
	return res, err
}

func (s *wstmt) Query(args []driver.Value) (driver.Rows, error) {
	ctx, c := startCall(context.Background(), s.conn.obs, s.conn.hooks, telemetry.KindQuery, s.query, named(args))
	//lint:ignore SA1019 database/sql's own fallback when the inner lacks StmtQueryContext.
	rows, err := s.inner.Query(args)
	return observeRows(ctx, c, rows, err)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

type stmtExecContext struct{ w *wstmt }

func (p stmtExecContext) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, c := startCall(ctx, p.w.conn.obs, p.w.conn.hooks, telemetry.KindExec, p.w.query, args)
	res, err := p.w.inner.(driver.StmtExecContext).ExecContext(ctx, args)
	c.end(ctx, err)
	return res, err
}

type stmtQueryContext struct{ w *wstmt }

func (p stmtQueryContext) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, c := startCall(ctx, p.w.conn.obs, p.w.conn.hooks, telemetry.KindQuery, p.w.query, args)
	rows, err := p.w.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
	return observeRows(ctx, c, rows, err)
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

// observeRows ends c on error, and otherwise wraps rows so that c ends
// when they are closed. Rows that nothing observes are not wrapped.
func observeRows(ctx context.Context, c call, rows driver.Rows, err error) (driver.Rows, error) {
	if err != nil {
		c.end(ctx, err)
		return nil, err
	}
	if !c.active() {
		return rows, nil
	}
	return pickRows(wrows{inner: rows, ctx: ctx, call: c}), nil
}

// wrows wraps a result set; pickRows gives it the inner's interfaces, so
// ColumnType.ScanType and friends report what the driver reports. The
// query's span ends when the rows are closed.
type wrows struct {
	inner driver.Rows
	ctx   context.Context
	call  call
	done  bool
	err   error // the first error Next returned, other than io.EOF
}

var _ driver.Rows = (*wrows)(nil)

func (r *wrows) Columns() []string { return r.inner.Columns() }

func (r *wrows) Close() error {
	err := r.inner.Close()
	if !r.done {
		r.done = true
		end := r.err
		if end == nil {
			end = err
		}
		if errors.Is(end, io.EOF) {
			end = nil
		}
		r.call.end(r.ctx, end)
	}
	return err
}

func (r *wrows) Next(dest []driver.Value) error {
	err := r.inner.Next(dest)
	if err != nil && r.err == nil {
		r.err = err // io.EOF is not a failure
	}
	return err
}

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
