//lint:file-ignore SA1019 a statement with a ColumnConverter keeps it: database/sql still consults it

package securepg

import (
	"context"
	"database/sql/driver"

	"github.com/securepg/securepg/internal/telemetry"
)

// wstmt wraps a prepared statement. Its CheckNamedValue falls back to the
// conn's, as database/sql does. ColumnConverter has no exact fallback, so
// a statement with one is wrapped by wstmtConverter instead.
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

func (s *wstmt) Close() error  { return guardErr(s.conn, s.inner.Close) }
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
		ictx, cancel := innerContext(ctx)
		res, err = guard(s.conn, func() (driver.Result, error) { return s.execCtx.ExecContext(ictx, args) })
		cancel()
	} else {
		res, err = guard(s.conn, func() (driver.Result, error) { return withValues(ctx, args, s.inner.Exec) })
	}
	c.end(ctx, err)
	return res, err
}

func (s *wstmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, c := startCall(ctx, s.conn.obs, s.conn.hooks, telemetry.KindQuery, s.query, args)
	var rows driver.Rows
	var err error
	cancel := noCancel
	if s.queryCx != nil {
		var ictx context.Context
		ictx, cancel = innerContext(ctx) // watched until the rows are closed
		rows, err = guard(s.conn, func() (driver.Rows, error) { return s.queryCx.QueryContext(ictx, args) })
	} else {
		rows, err = guard(s.conn, func() (driver.Rows, error) { return withValues(ctx, args, s.inner.Query) })
	}
	return observeRows(ctx, s.conn, c, rows, err, cancel)
}
