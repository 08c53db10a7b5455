//lint:file-ignore SA1019 the wrappers offer what database/sql still consults: Execer, Queryer, ColumnConverter

package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/securepg/securepg/internal/telemetry"
)

// wconn wraps a driver.Conn that offers no hooks of its own (lib/pq, and
// go-sqlmock in tests) to observe it. Like XSAM/otelsql's wrappers, it
// implements every optional interface database/sql looks for, and where
// the inner conn lacks one it does exactly what database/sql itself would
// do without it (driver.ErrSkip, nil, true, the prepare and begin
// fallbacks of database/sql's ctxutil.go). The one place where presence
// alone changes database/sql's behaviour, a transaction rolled back by its
// context on a conn that cannot be validated, is reproduced in IsValid.
type wconn struct {
	inner   driver.Conn
	obs     *telemetry.Conn
	hooks   *hookSet  // nil: no query hooks
	recycle time.Time // credentials expire: stop reusing the conn at this time

	// The inner conn's optional interfaces, asserted once.
	pinger     driver.Pinger
	queryerCtx driver.QueryerContext
	queryer    driver.Queryer // database/sql's own fallback
	execerCtx  driver.ExecerContext
	execer     driver.Execer // database/sql's own fallback
	prepareCtx driver.ConnPrepareContext
	beginTx    driver.ConnBeginTx
	resetter   driver.SessionResetter
	validator  driver.Validator
	checker    driver.NamedValueChecker

	// discard: a transaction on a conn that database/sql could not have
	// validated was rolled back because its context ended; database/sql
	// would have closed such a conn.
	discard atomic.Bool
}

var (
	_ driver.Conn               = (*wconn)(nil)
	_ driver.Pinger             = (*wconn)(nil)
	_ driver.QueryerContext     = wconnQuery{}
	_ driver.ExecerContext      = wconnExec{}
	_ driver.ConnPrepareContext = (*wconn)(nil)
	_ driver.ConnBeginTx        = (*wconn)(nil)
	_ driver.SessionResetter    = (*wconn)(nil)
	_ driver.Validator          = (*wconn)(nil)
	_ driver.NamedValueChecker  = (*wconn)(nil)
	_ unwrapper                 = (*wconn)(nil)
)

// wconnExec and wconnQuery add ExecContext and QueryContext, and only for
// an inner conn that can execute (query) without a prepared statement:
// database/sql converts a call's arguments with the conn's checker before
// it calls them, so claiming them for a conn that has neither would change
// which conversion applies. The four combinations are a small explicit
// choice, made once per conn by wrapConn.
type (
	wconnExec  struct{ *wconn }
	wconnQuery struct{ *wconn }
)

// wrapConn wraps inner, with ExecContext and QueryContext as inner has
// them.
func wrapConn(inner driver.Conn, obs *telemetry.Conn, hs *hookSet, recycle time.Time) driver.Conn {
	w := newWConn(inner, obs, hs, recycle)
	exec, query := w.execerCtx != nil || w.execer != nil, w.queryerCtx != nil || w.queryer != nil
	switch {
	case exec && query:
		return struct {
			*wconn
			wconnExec
			wconnQuery
		}{w, wconnExec{w}, wconnQuery{w}}
	case exec:
		return struct {
			*wconn
			wconnExec
		}{w, wconnExec{w}}
	case query:
		return struct {
			*wconn
			wconnQuery
		}{w, wconnQuery{w}}
	}
	return w
}

func newWConn(inner driver.Conn, obs *telemetry.Conn, hs *hookSet, recycle time.Time) *wconn {
	w := &wconn{inner: inner, obs: obs, hooks: hs, recycle: recycle}
	w.pinger, _ = inner.(driver.Pinger)
	w.queryerCtx, _ = inner.(driver.QueryerContext)
	w.queryer, _ = inner.(driver.Queryer)
	w.execerCtx, _ = inner.(driver.ExecerContext)
	w.execer, _ = inner.(driver.Execer)
	w.prepareCtx, _ = inner.(driver.ConnPrepareContext)
	w.beginTx, _ = inner.(driver.ConnBeginTx)
	w.resetter, _ = inner.(driver.SessionResetter)
	w.validator, _ = inner.(driver.Validator)
	w.checker, _ = inner.(driver.NamedValueChecker)
	return w
}

// unwrapper is implemented by every securepg wrapper.
type unwrapper interface{ Unwrap() driver.Conn }

// Unwrap returns the underlying driver's conn.
func (w *wconn) Unwrap() driver.Conn { return w.inner }

// expired reports that the conn's credentials are about to expire.
func (w *wconn) expired() bool { return !w.recycle.IsZero() && !time.Now().Before(w.recycle) }

func (w *wconn) Close() error { return w.inner.Close() }

func (w *wconn) Prepare(query string) (driver.Stmt, error) {
	return w.PrepareContext(context.Background(), query)
}

// PrepareContext falls back, as database/sql does, to Prepare and a check
// of the context.
func (w *wconn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	ctx, op := w.obs.Start(ctx, telemetry.KindPrepare, query)
	var s driver.Stmt
	var err error
	if w.prepareCtx != nil {
		s, err = w.prepareCtx.PrepareContext(ctx, query)
	} else if s, err = w.inner.Prepare(query); err == nil && ctx.Err() != nil {
		s.Close()
		s, err = nil, ctx.Err()
	}
	op.End(ctx, err)
	if err != nil {
		return nil, err
	}
	return newWStmt(s, w, query), nil
}

func (w *wconn) Begin() (driver.Tx, error) {
	return w.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx falls back, as database/sql does, to Begin, refusing options
// that Begin cannot honour.
func (w *wconn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	ctx, op := w.obs.Start(ctx, telemetry.KindBegin, "")
	var tx driver.Tx
	var err error
	switch {
	case w.beginTx != nil:
		tx, err = w.beginTx.BeginTx(ctx, opts)
	case opts.Isolation != driver.IsolationLevel(0):
		err = errors.New("sql: driver does not support non-default isolation level")
	case opts.ReadOnly:
		err = errors.New("sql: driver does not support read-only transactions")
	default:
		if tx, err = w.inner.Begin(); err == nil && ctx.Err() != nil {
			tx.Rollback()
			tx, err = nil, ctx.Err()
		}
	}
	op.End(ctx, err)
	if err != nil {
		return nil, err
	}
	return &wtx{inner: tx, conn: w, ctx: ctx}, nil
}

// Ping is a no-op when the inner conn cannot ping, as in database/sql.
func (w *wconn) Ping(ctx context.Context) error {
	if w.pinger == nil {
		return nil
	}
	ctx, op := w.obs.Start(ctx, telemetry.KindPing, "")
	err := w.pinger.Ping(ctx)
	op.End(ctx, err)
	return err
}

// ResetSession also retires a conn whose credentials are about to expire.
func (w *wconn) ResetSession(ctx context.Context) error {
	if w.expired() || w.discard.Load() {
		return driver.ErrBadConn // database/sql discards it
	}
	if w.resetter == nil {
		return nil
	}
	ctx, op := w.obs.Start(ctx, telemetry.KindReset, "")
	err := w.resetter.ResetSession(ctx)
	op.End(ctx, err)
	return err
}

func (w *wconn) IsValid() bool {
	if w.expired() || w.discard.Load() {
		return false
	}
	return w.validator == nil || w.validator.IsValid()
}

// CheckNamedValue returns driver.ErrSkip (database/sql's default
// conversion) when the inner conn has no checker.
func (w *wconn) CheckNamedValue(nv *driver.NamedValue) error {
	if w.checker == nil {
		return driver.ErrSkip
	}
	return w.checker.CheckNamedValue(nv)
}

// QueryContext observes the query until its rows are closed: one span for
// the query and its rows. Without QueryerContext it uses the legacy
// Queryer, as database/sql does.
func (q wconnQuery) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	w := q.wconn
	ctx, c := startCall(ctx, w.obs, w.hooks, telemetry.KindQuery, query, args)
	var rows driver.Rows
	var err error
	if w.queryerCtx != nil {
		rows, err = w.queryerCtx.QueryContext(ctx, query, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(ctx, args); err == nil {
			rows, err = w.queryer.Query(query, vals)
		}
	}
	return observeRows(ctx, c, rows, err) // driver.ErrSkip passes through untouched
}

// ExecContext observes the statement. Without ExecerContext it uses the
// legacy Execer, as database/sql does.
func (e wconnExec) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	w := e.wconn
	ctx, c := startCall(ctx, w.obs, w.hooks, telemetry.KindExec, query, args)
	var res driver.Result
	var err error
	if w.execerCtx != nil {
		res, err = w.execerCtx.ExecContext(ctx, query, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(ctx, args); err == nil {
			res, err = w.execer.Exec(query, vals)
		}
	}
	c.end(ctx, err)
	return res, err
}

// namedValueToValue is database/sql's conversion for drivers without the
// context interfaces, with its check of the context.
func namedValueToValue(ctx context.Context, named []driver.NamedValue) ([]driver.Value, error) {
	args := make([]driver.Value, len(named))
	for n, param := range named {
		if len(param.Name) > 0 {
			return nil, errors.New("sql: driver does not support the use of Named Parameters")
		}
		args[n] = param.Value
	}
	return args, ctx.Err()
}

type wtx struct {
	inner driver.Tx
	conn  *wconn
	ctx   context.Context
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
	if t.ctx.Err() != nil && (t.conn.resetter == nil || t.conn.validator == nil) {
		t.conn.discard.Store(true)
	}
	return err
}

// wstmt wraps a prepared statement. Its CheckNamedValue falls back to the
// conn's, which is what database/sql consults when a statement has none.
// ColumnConverter has no exact fallback (database/sql converts differently
// when a statement has one), so a statement with one is wrapped by
// wstmtConverter instead.
type wstmt struct {
	inner   driver.Stmt
	conn    *wconn
	query   string
	execCtx driver.StmtExecContext
	queryCx driver.StmtQueryContext
	checker driver.NamedValueChecker
}

var (
	_ driver.Stmt              = (*wstmt)(nil)
	_ driver.StmtExecContext   = (*wstmt)(nil)
	_ driver.StmtQueryContext  = (*wstmt)(nil)
	_ driver.NamedValueChecker = (*wstmt)(nil)
	_ driver.ColumnConverter   = wstmtConverter{}
)

type wstmtConverter struct {
	*wstmt
	cc driver.ColumnConverter
}

// ColumnConverter is the inner statement's.
func (s wstmtConverter) ColumnConverter(idx int) driver.ValueConverter {
	return s.cc.ColumnConverter(idx)
}

func newWStmt(inner driver.Stmt, c *wconn, query string) driver.Stmt {
	s := &wstmt{inner: inner, conn: c, query: query}
	s.execCtx, _ = inner.(driver.StmtExecContext)
	s.queryCx, _ = inner.(driver.StmtQueryContext)
	s.checker, _ = inner.(driver.NamedValueChecker)
	if cc, ok := inner.(driver.ColumnConverter); ok {
		return wstmtConverter{s, cc}
	}
	return s
}

func (s *wstmt) Close() error  { return s.inner.Close() }
func (s *wstmt) NumInput() int { return s.inner.NumInput() }

func (s *wstmt) CheckNamedValue(nv *driver.NamedValue) error {
	if s.checker == nil {
		return s.conn.CheckNamedValue(nv)
	}
	return s.checker.CheckNamedValue(nv)
}

func (s *wstmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *wstmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func (s *wstmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, c := startCall(ctx, s.conn.obs, s.conn.hooks, telemetry.KindExec, s.query, args)
	var res driver.Result
	var err error
	if s.execCtx != nil {
		res, err = s.execCtx.ExecContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(ctx, args); err == nil {
			res, err = s.inner.Exec(vals)
		}
	}
	c.end(ctx, err)
	return res, err
}

func (s *wstmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, c := startCall(ctx, s.conn.obs, s.conn.hooks, telemetry.KindQuery, s.query, args)
	var rows driver.Rows
	var err error
	if s.queryCx != nil {
		rows, err = s.queryCx.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(ctx, args); err == nil {
			rows, err = s.inner.Query(vals)
		}
	}
	return observeRows(ctx, c, rows, err)
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
	return &wrows{inner: rows, ctx: ctx, call: c}, nil
}

// wrows wraps a result set until it is closed, when the query's span
// ends. Every optional rows interface has an exact fallback: what
// database/sql reports for a driver without it (any as the scan type, no
// length, no next result set).
type wrows struct {
	inner driver.Rows
	ctx   context.Context
	call  call
	done  bool
	err   error // the first error Next returned, other than io.EOF
}

var (
	_ driver.Rows                           = (*wrows)(nil)
	_ driver.RowsNextResultSet              = (*wrows)(nil)
	_ driver.RowsColumnTypeScanType         = (*wrows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*wrows)(nil)
	_ driver.RowsColumnTypeLength           = (*wrows)(nil)
	_ driver.RowsColumnTypeNullable         = (*wrows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*wrows)(nil)
)

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

func (r *wrows) HasNextResultSet() bool {
	n, ok := r.inner.(driver.RowsNextResultSet)
	return ok && n.HasNextResultSet()
}

func (r *wrows) NextResultSet() error {
	if n, ok := r.inner.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}

var anyType = reflect.TypeFor[any]()

func (r *wrows) ColumnTypeScanType(i int) reflect.Type {
	if p, ok := r.inner.(driver.RowsColumnTypeScanType); ok {
		return p.ColumnTypeScanType(i)
	}
	return anyType
}

func (r *wrows) ColumnTypeDatabaseTypeName(i int) string {
	if p, ok := r.inner.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return p.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *wrows) ColumnTypeLength(i int) (int64, bool) {
	if p, ok := r.inner.(driver.RowsColumnTypeLength); ok {
		return p.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *wrows) ColumnTypeNullable(i int) (bool, bool) {
	if p, ok := r.inner.(driver.RowsColumnTypeNullable); ok {
		return p.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *wrows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if p, ok := r.inner.(driver.RowsColumnTypePrecisionScale); ok {
		return p.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
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
