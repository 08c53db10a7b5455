package securepg

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
)

// observeRows ends c on error, else wraps rows so that c ends when they
// are closed and a panic of the inner driver in Next or Close is survived;
// with the conn's spare wrapper when free, so that a query allocates none.
func observeRows(ctx context.Context, w *wconn, c call, rows driver.Rows, err error, cancel context.CancelFunc) (driver.Rows, error) {
	if err != nil {
		cancel()
		c.end(ctx, err)
		return nil, err
	}
	if w.rowsBusy.CompareAndSwap(false, true) {
		w.rows = wrows{inner: rows, ctx: ctx, call: c, conn: w, owner: w, cancel: cancel}
		return &w.rows, nil
	}
	return &wrows{inner: rows, ctx: ctx, call: c, conn: w, cancel: cancel}, nil
}

// wrows wraps a result set until it is closed, when the query's span
// ends. Each optional interface falls back to what database/sql reports
// for a driver without it.
type wrows struct {
	inner driver.Rows
	ctx   context.Context
	call  call
	done  bool
	err   error  // the first error Next returned, other than io.EOF
	conn  *wconn // the conn the rows are read from
	owner *wconn // the conn whose spare wrapper this is, or nil
	// cancel ends the context the inner driver watches while the rows
	// are read.
	cancel context.CancelFunc
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
	err := guardErr(r.conn, r.inner.Close)
	if !r.done {
		r.done = true
		r.cancel()
		end := cmp.Or(r.err, err)
		if errors.Is(end, io.EOF) {
			end = nil
		}
		r.call.end(r.ctx, end)
		if w := r.owner; w != nil {
			// database/sql never uses closed rows again: the conn's next
			// query may have the wrapper.
			*r = wrows{done: true}
			w.rowsBusy.Store(false)
		}
	}
	return err
}

func (r *wrows) Next(dest []driver.Value) (err error) {
	if r.conn.broken.Load() {
		return errDriverPanicked
	}
	defer r.conn.survive(&err) // per row: no closure
	err = r.inner.Next(dest)
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
		return guardErr(r.conn, n.NextResultSet)
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
