//lint:file-ignore SA1019 the wrappers offer what database/sql still consults: Execer, Queryer, ColumnConverter

package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"time"

	"github.com/securepg/securepg/internal/telemetry"
)

// wconn wraps a driver.Conn that offers no hooks of its own (lib/pq,
// go-sqlmock) to observe it. It implements every optional interface
// database/sql looks for, and where the inner conn lacks one does exactly
// what database/sql would do without it (driver.ErrSkip, nil, true, the
// fallbacks of database/sql's ctxutil.go). Where presence alone changes
// database/sql's behaviour (a transaction rolled back by its context on a
// conn that cannot be validated), IsValid reproduces it.
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

	// discard: a transaction rolled back by its context on a conn that
	// database/sql could not have validated, which it would have closed.
	discard atomic.Bool
	// broken: the inner driver panicked, and its conn is closed.
	broken atomic.Bool

	// rows is the conn's spare rows wrapper, in use while rowsBusy.
	rows     wrows
	rowsBusy atomic.Bool
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

// wconnExec and wconnQuery add ExecContext and QueryContext only for an
// inner conn that can execute (query) without a prepared statement:
// claiming them for one that cannot would change which argument
// conversion database/sql applies.
type (
	wconnExec  struct{ *wconn }
	wconnQuery struct{ *wconn }
)

// wrapConn wraps inner, with ExecContext and QueryContext as inner has
// them.
func wrapConn(inner driver.Conn, obs *telemetry.Conn, hs *hookSet, recycle time.Time) driver.Conn {
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

// errDriverPanicked: the inner driver panicked reading what the server
// sent. lib/pq reads some malformed messages past their end, and recovers
// no panic after the startup: a peer could end the process.
var errDriverPanicked = errors.New("securepg: the driver could not read a message from the server (it panicked); the connection is discarded")

// survive, deferred around a call into the inner driver, turns its panic
// into errDriverPanicked, closes the inner conn (whose reading is lost
// mid-message: a later call could wait forever for a message) and marks
// the conn bad: database/sql discards it (driver.ErrBadConn would let it
// run the statement again elsewhere).
func (w *wconn) survive(err *error) {
	if r := recover(); r != nil {
		*err = errDriverPanicked
		if !w.broken.Swap(true) {
			w.discard.Store(true)
			func() {
				defer func() { _ = recover() }()
				w.inner.Close()
			}()
		}
	}
}

// innerContext is the context a call into the inner driver gets: one of
// its own when ctx can end, which securepg ends when the call (a query:
// its rows; a transaction: its commit or rollback) is over. lib/pq
// watches a call's context in a goroutine that only the call's own
// return stops; after a panic, that goroutine and the conn would live on
// until ctx ended.
func innerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Done() == nil {
		return ctx, noCancel
	}
	return context.WithCancel(ctx)
}

func noCancel() {}

// guard calls f, surviving a panic of the inner driver; on a conn broken
// by one, it calls nothing.
func guard[T any](w *wconn, f func() (T, error)) (v T, err error) {
	if w.broken.Load() {
		return v, errDriverPanicked
	}
	defer w.survive(&err)
	return f()
}

// guardErr is guard for a call that returns only an error.
func guardErr(w *wconn, f func() error) (err error) {
	if w.broken.Load() {
		return errDriverPanicked
	}
	defer w.survive(&err)
	return f()
}

// unwrapper is implemented by every securepg wrapper.
type unwrapper interface{ Unwrap() driver.Conn }

// Unwrap returns the underlying driver's conn.
func (w *wconn) Unwrap() driver.Conn { return w.inner }

// expired reports that the conn's credentials are about to expire.
func (w *wconn) expired() bool { return !w.recycle.IsZero() && !time.Now().Before(w.recycle) }

func (w *wconn) Close() error {
	if w.broken.Load() {
		return nil // closed when it broke
	}
	return guardErr(w, w.inner.Close)
}

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
		ictx, cancel := innerContext(ctx)
		s, err = guard(w, func() (driver.Stmt, error) { return w.prepareCtx.PrepareContext(ictx, query) })
		cancel()
	} else if s, err = guard(w, func() (driver.Stmt, error) { return w.inner.Prepare(query) }); err == nil && ctx.Err() != nil {
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
	cancel := noCancel
	switch {
	case w.beginTx != nil:
		var ictx context.Context
		ictx, cancel = innerContext(ctx) // watched until the transaction ends
		tx, err = guard(w, func() (driver.Tx, error) { return w.beginTx.BeginTx(ictx, opts) })
	case opts.Isolation != driver.IsolationLevel(0):
		err = errors.New("sql: driver does not support non-default isolation level")
	case opts.ReadOnly:
		err = errors.New("sql: driver does not support read-only transactions")
	default:
		if tx, err = guard(w, w.inner.Begin); err == nil && ctx.Err() != nil {
			tx.Rollback()
			tx, err = nil, ctx.Err()
		}
	}
	op.End(ctx, err)
	if err != nil {
		cancel()
		return nil, err
	}
	return &wtx{inner: tx, conn: w, ctx: ctx, cancel: cancel}, nil
}

// Ping is a no-op when the inner conn cannot ping, as in database/sql.
func (w *wconn) Ping(ctx context.Context) error {
	if w.pinger == nil {
		return nil
	}
	ctx, op := w.obs.Start(ctx, telemetry.KindPing, "")
	ictx, cancel := innerContext(ctx)
	err := guardErr(w, func() error { return w.pinger.Ping(ictx) })
	cancel()
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
	err := guardErr(w, func() error { return w.resetter.ResetSession(ctx) })
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
	cancel := noCancel
	if w.queryerCtx != nil {
		var ictx context.Context
		ictx, cancel = innerContext(ctx) // watched until the rows are closed
		rows, err = guard(w, func() (driver.Rows, error) { return w.queryerCtx.QueryContext(ictx, query, args) })
	} else {
		rows, err = guard(w, func() (driver.Rows, error) {
			return withValues(ctx, args, func(v []driver.Value) (driver.Rows, error) { return w.queryer.Query(query, v) })
		})
	}
	return observeRows(ctx, w, c, rows, err, cancel) // driver.ErrSkip passes through untouched
}

// ExecContext observes the statement. Without ExecerContext it uses the
// legacy Execer, as database/sql does.
func (e wconnExec) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	w := e.wconn
	ctx, c := startCall(ctx, w.obs, w.hooks, telemetry.KindExec, query, args)
	var res driver.Result
	var err error
	if w.execerCtx != nil {
		ictx, cancel := innerContext(ctx)
		res, err = guard(w, func() (driver.Result, error) { return w.execerCtx.ExecContext(ictx, query, args) })
		cancel()
	} else {
		res, err = guard(w, func() (driver.Result, error) {
			return withValues(ctx, args, func(v []driver.Value) (driver.Result, error) { return w.execer.Exec(query, v) })
		})
	}
	c.end(ctx, err)
	return res, err
}

// withValues calls f with named converted as database/sql converts them
// for a driver without the context interfaces, context check included.
func withValues[T any](ctx context.Context, named []driver.NamedValue, f func([]driver.Value) (T, error)) (T, error) {
	args := make([]driver.Value, len(named))
	for n, param := range named {
		if len(param.Name) > 0 {
			var zero T
			return zero, errors.New("sql: driver does not support the use of Named Parameters")
		}
		args[n] = param.Value
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	return f(args)
}

type wtx struct {
	inner  driver.Tx
	conn   *wconn
	ctx    context.Context
	cancel context.CancelFunc // ends the context the inner driver watches
}

var _ driver.Tx = (*wtx)(nil)

func (t *wtx) Commit() error {
	ctx, op := t.conn.obs.Start(context.Background(), telemetry.KindCommit, "")
	err := guardErr(t.conn, t.inner.Commit)
	t.cancel()
	op.End(ctx, err)
	return err
}

func (t *wtx) Rollback() error {
	ctx, op := t.conn.obs.Start(context.Background(), telemetry.KindRollback, "")
	err := guardErr(t.conn, t.inner.Rollback)
	t.cancel()
	op.End(ctx, err)
	if t.ctx.Err() != nil && (t.conn.resetter == nil || t.conn.validator == nil) {
		t.conn.discard.Store(true)
	}
	return err
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

// wrapped is the wrapper itself, whichever variant embeds it.
func (w *wconn) wrapped() *wconn { return w }
