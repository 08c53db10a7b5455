package securepg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
)

// The wrapper must make database/sql behave exactly as it does with the
// inner conn alone: for each optional interface, with an inner conn that
// has it and one that lacks it, the same script gives the same results,
// the same errors (driver.ErrSkip, driver.ErrBadConn,
// driver.ErrRemoveArgument included) and the same calls into the driver.

// fake is an in-memory driver whose conns, statements and rows are made
// of parts, one per optional interface, so that a test can leave any one
// out.
type fake struct {
	mu    sync.Mutex
	log   []string
	conns int
}

func (f *fake) note(format string, args ...any) {
	f.mu.Lock()
	f.log = append(f.log, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// specialArg is a value only the fake's NamedValueChecker accepts (as
// driver-specific types like pq.Array are accepted by their driver).
type specialArg struct{ n int }

// dropArg asks the checker to remove the argument.
type dropArg struct{}

type base struct{ f *fake }

func (b base) Prepare(q string) (driver.Stmt, error) {
	b.f.note("Prepare %s", q)
	return stmtAll(b.f, q), nil
}
func (b base) Close() error { b.f.note("Close"); return nil }
func (b base) Begin() (driver.Tx, error) {
	b.f.note("Begin")
	return fakeTx(b), nil
}

type fakeTx struct{ f *fake }

func (t fakeTx) Commit() error   { t.f.note("Commit"); return nil }
func (t fakeTx) Rollback() error { t.f.note("Rollback"); return nil }

type pingPart struct{ f *fake }

func (p pingPart) Ping(context.Context) error { p.f.note("Ping"); return nil }

type queryCtxPart struct{ f *fake }

func (p queryCtxPart) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	p.f.note("QueryContext %s %v", q, args)
	return answer(p.f, q)
}

type queryPart struct{ f *fake }

func (p queryPart) Query(q string, args []driver.Value) (driver.Rows, error) {
	p.f.note("Query %s %v", q, args)
	return answer(p.f, q)
}

type execCtxPart struct{ f *fake }

func (p execCtxPart) ExecContext(_ context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	p.f.note("ExecContext %s %v", q, args)
	return result(q)
}

type execPart struct{ f *fake }

func (p execPart) Exec(q string, args []driver.Value) (driver.Result, error) {
	p.f.note("Exec %s %v", q, args)
	return result(q)
}

type prepareCtxPart struct{ f *fake }

func (p prepareCtxPart) PrepareContext(_ context.Context, q string) (driver.Stmt, error) {
	p.f.note("PrepareContext %s", q)
	return stmtAll(p.f, q), nil
}

type beginTxPart struct{ f *fake }

func (p beginTxPart) BeginTx(_ context.Context, o driver.TxOptions) (driver.Tx, error) {
	p.f.note("BeginTx %v %v", o.Isolation, o.ReadOnly)
	return fakeTx(p), nil
}

type resetPart struct{ f *fake }

func (p resetPart) ResetSession(context.Context) error { p.f.note("ResetSession"); return nil }

type validPart struct{ f *fake }

func (p validPart) IsValid() bool { p.f.note("IsValid"); return true }

type checkPart struct{ f *fake }

func (p checkPart) CheckNamedValue(nv *driver.NamedValue) error {
	switch v := nv.Value.(type) {
	case specialArg:
		nv.Value = int64(v.n)
		return nil
	case dropArg:
		return driver.ErrRemoveArgument
	}
	return driver.ErrSkip
}

// answer gives rows, or the errors database/sql treats specially.
func answer(f *fake, q string) (driver.Rows, error) {
	switch q {
	case "skip":
		return nil, driver.ErrSkip
	case "bad":
		return nil, driver.ErrBadConn
	case "fail":
		return nil, errors.New("fake failure")
	}
	return rowsAll(f), nil
}

func result(q string) (driver.Result, error) {
	switch q {
	case "skip":
		return nil, driver.ErrSkip
	case "bad":
		return nil, driver.ErrBadConn
	case "fail":
		return nil, errors.New("fake failure")
	}
	return driver.RowsAffected(1), nil
}

// Statements.

type stmtBase struct {
	f *fake
	q string
}

func (s stmtBase) Close() error  { s.f.note("StmtClose %s", s.q); return nil }
func (s stmtBase) NumInput() int { return -1 }
func (s stmtBase) Exec(args []driver.Value) (driver.Result, error) {
	s.f.note("StmtExec %s %v", s.q, args)
	return result(s.q)
}
func (s stmtBase) Query(args []driver.Value) (driver.Rows, error) {
	s.f.note("StmtQuery %s %v", s.q, args)
	return answer(s.f, s.q)
}

type stmtExecCtx struct{ b stmtBase }

func (s stmtExecCtx) ExecContext(_ context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.b.f.note("StmtExecContext %s %v", s.b.q, args)
	return result(s.b.q)
}

type stmtQueryCtx struct{ b stmtBase }

func (s stmtQueryCtx) QueryContext(_ context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.b.f.note("StmtQueryContext %s %v", s.b.q, args)
	return answer(s.b.f, s.b.q)
}

type stmtCheck struct{ b stmtBase }

func (s stmtCheck) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := nv.Value.(specialArg); ok {
		nv.Value = int64(v.n * 100)
		return nil
	}
	return driver.ErrSkip
}

type stmtConv struct{ b stmtBase }

// ColumnConverter doubles integers.
func (s stmtConv) ColumnConverter(int) driver.ValueConverter { return doubler{} }

type doubler struct{}

func (doubler) ConvertValue(v any) (driver.Value, error) {
	if n, ok := v.(int); ok {
		return int64(2 * n), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(v)
}

// stmtVariant is which statement interfaces to leave out.
var stmtVariant = ""

func stmtAll(f *fake, q string) driver.Stmt {
	b := stmtBase{f, q}
	switch stmtVariant {
	case "none":
		return b
	case "-exec":
		return struct {
			stmtBase
			stmtQueryCtx
			stmtCheck
			stmtConv
		}{b, stmtQueryCtx{b}, stmtCheck{b}, stmtConv{b}}
	case "-query":
		return struct {
			stmtBase
			stmtExecCtx
			stmtCheck
			stmtConv
		}{b, stmtExecCtx{b}, stmtCheck{b}, stmtConv{b}}
	case "-check":
		return struct {
			stmtBase
			stmtExecCtx
			stmtQueryCtx
			stmtConv
		}{b, stmtExecCtx{b}, stmtQueryCtx{b}, stmtConv{b}}
	case "-conv":
		return struct {
			stmtBase
			stmtExecCtx
			stmtQueryCtx
			stmtCheck
		}{b, stmtExecCtx{b}, stmtQueryCtx{b}, stmtCheck{b}}
	}
	return struct {
		stmtBase
		stmtExecCtx
		stmtQueryCtx
		stmtCheck
		stmtConv
	}{b, stmtExecCtx{b}, stmtQueryCtx{b}, stmtCheck{b}, stmtConv{b}}
}

// Rows.

type rowsBase struct {
	f *fake
	n int
}

func (r *rowsBase) Columns() []string { return []string{"a", "b"} }
func (r *rowsBase) Close() error      { r.f.note("RowsClose"); return nil }
func (r *rowsBase) Next(dest []driver.Value) error {
	if r.n >= 2 {
		return io.EOF
	}
	r.n++
	dest[0], dest[1] = int64(r.n), "x"
	return nil
}

type rowsNext struct{ b *rowsBase }

func (r rowsNext) HasNextResultSet() bool { r.b.f.note("HasNextResultSet"); return false }
func (r rowsNext) NextResultSet() error   { return io.EOF }

type rowsScan struct{ b *rowsBase }

func (rowsScan) ColumnTypeScanType(i int) reflect.Type {
	return []reflect.Type{reflect.TypeFor[int64](), reflect.TypeFor[string]()}[i]
}

type rowsName struct{ b *rowsBase }

func (rowsName) ColumnTypeDatabaseTypeName(int) string { return "INT8" }

type rowsLen struct{ b *rowsBase }

func (rowsLen) ColumnTypeLength(int) (int64, bool) { return 8, true }

type rowsNull struct{ b *rowsBase }

func (rowsNull) ColumnTypeNullable(int) (bool, bool) { return true, true }

type rowsPrec struct{ b *rowsBase }

func (rowsPrec) ColumnTypePrecisionScale(int) (int64, int64, bool) { return 10, 2, true }

var rowsVariant = ""

func rowsAll(f *fake) driver.Rows {
	b := &rowsBase{f: f}
	switch rowsVariant {
	case "none":
		return b
	case "-next":
		return struct {
			*rowsBase
			rowsScan
			rowsName
			rowsLen
			rowsNull
			rowsPrec
		}{b, rowsScan{b}, rowsName{b}, rowsLen{b}, rowsNull{b}, rowsPrec{b}}
	case "-scan":
		return struct {
			*rowsBase
			rowsNext
			rowsName
			rowsLen
			rowsNull
			rowsPrec
		}{b, rowsNext{b}, rowsName{b}, rowsLen{b}, rowsNull{b}, rowsPrec{b}}
	case "-name":
		return struct {
			*rowsBase
			rowsNext
			rowsScan
			rowsLen
			rowsNull
			rowsPrec
		}{b, rowsNext{b}, rowsScan{b}, rowsLen{b}, rowsNull{b}, rowsPrec{b}}
	case "-len":
		return struct {
			*rowsBase
			rowsNext
			rowsScan
			rowsName
			rowsNull
			rowsPrec
		}{b, rowsNext{b}, rowsScan{b}, rowsName{b}, rowsNull{b}, rowsPrec{b}}
	case "-null":
		return struct {
			*rowsBase
			rowsNext
			rowsScan
			rowsName
			rowsLen
			rowsPrec
		}{b, rowsNext{b}, rowsScan{b}, rowsName{b}, rowsLen{b}, rowsPrec{b}}
	case "-prec":
		return struct {
			*rowsBase
			rowsNext
			rowsScan
			rowsName
			rowsLen
			rowsNull
		}{b, rowsNext{b}, rowsScan{b}, rowsName{b}, rowsLen{b}, rowsNull{b}}
	}
	return struct {
		*rowsBase
		rowsNext
		rowsScan
		rowsName
		rowsLen
		rowsNull
		rowsPrec
	}{b, rowsNext{b}, rowsScan{b}, rowsName{b}, rowsLen{b}, rowsNull{b}, rowsPrec{b}}
}

// connVariants are the conns under test: every optional interface, none,
// and every one but one.
func connVariants() map[string]func(*fake) driver.Conn {
	return map[string]func(*fake) driver.Conn{
		"all": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				execCtxPart
				prepareCtxPart
				beginTxPart
				resetPart
				validPart
				checkPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, execCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, resetPart{f}, validPart{f}, checkPart{f}}
		},
		"none": func(f *fake) driver.Conn { return base{f} },
		"legacy": func(f *fake) driver.Conn {
			return struct {
				base
				queryPart
				execPart
			}{base{f}, queryPart{f}, execPart{f}}
		},
		"-ping": func(f *fake) driver.Conn {
			return struct {
				base
				queryCtxPart
				execCtxPart
				prepareCtxPart
				beginTxPart
				resetPart
				validPart
				checkPart
			}{base{f}, queryCtxPart{f}, execCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, resetPart{f}, validPart{f}, checkPart{f}}
		},
		"-query": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				execCtxPart
				prepareCtxPart
				beginTxPart
				resetPart
				validPart
				checkPart
			}{base{f}, pingPart{f}, execCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, resetPart{f}, validPart{f}, checkPart{f}}
		},
		"-exec": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				prepareCtxPart
				beginTxPart
				resetPart
				validPart
				checkPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, resetPart{f}, validPart{f}, checkPart{f}}
		},
		"-prepare": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				execCtxPart
				beginTxPart
				resetPart
				validPart
				checkPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, execCtxPart{f}, beginTxPart{f}, resetPart{f}, validPart{f}, checkPart{f}}
		},
		"-begin": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				execCtxPart
				prepareCtxPart
				resetPart
				validPart
				checkPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, execCtxPart{f}, prepareCtxPart{f}, resetPart{f}, validPart{f}, checkPart{f}}
		},
		"-reset": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				execCtxPart
				prepareCtxPart
				beginTxPart
				validPart
				checkPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, execCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, validPart{f}, checkPart{f}}
		},
		"-valid": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				execCtxPart
				prepareCtxPart
				beginTxPart
				resetPart
				checkPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, execCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, resetPart{f}, checkPart{f}}
		},
		"-check": func(f *fake) driver.Conn {
			return struct {
				base
				pingPart
				queryCtxPart
				execCtxPart
				prepareCtxPart
				beginTxPart
				resetPart
				validPart
			}{base{f}, pingPart{f}, queryCtxPart{f}, execCtxPart{f}, prepareCtxPart{f}, beginTxPart{f}, resetPart{f}, validPart{f}}
		},
	}
}

// fakeConnector hands out the fake's conns, wrapped or not.
type fakeConnector struct {
	f    *fake
	make func(*fake) driver.Conn
	wrap bool
}

func (c fakeConnector) Connect(context.Context) (driver.Conn, error) {
	c.f.mu.Lock()
	c.f.conns++
	c.f.mu.Unlock()
	conn := c.make(c.f)
	if c.wrap {
		return wrapConn(conn, nil, nil, time.Time{}), nil
	}
	return conn, nil
}

func (fakeConnector) Driver() driver.Driver { return nil }

// script drives database/sql through every path an optional interface
// changes, and returns what it saw.
func script(db *sql.DB) string {
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	ctx := context.Background()
	say("ping %v", db.Ping())
	for _, q := range []string{"ok", "skip", "bad", "fail"} {
		_, err := db.Exec(q, 1)
		say("exec %s: %v", q, err)
		rows, err := db.Query(q, 1)
		say("query %s: %v", q, err)
		if err == nil {
			cts, _ := rows.ColumnTypes()
			for _, ct := range cts {
				n, nok := ct.Nullable()
				l, lok := ct.Length()
				p, s, pok := ct.DecimalSize()
				say("column %s %s %v %v/%v %d/%v %d,%d/%v", ct.Name(), ct.DatabaseTypeName(), ct.ScanType(), n, nok, l, lok, p, s, pok)
			}
			for rows.Next() {
				var a int64
				var b string
				rows.Scan(&a, &b)
				say("row %d %s", a, b)
			}
			say("next result set %v, err %v", rows.NextResultSet(), rows.Err())
			rows.Close()
		}
	}
	// Arguments: a driver-specific type, one to remove, one a converter sees.
	_, err := db.Exec("ok", specialArg{7}, dropArg{}, 21)
	say("exec args: %v", err)
	stmt, err := db.Prepare("ok")
	say("prepare: %v", err)
	if err == nil {
		_, err = stmt.Exec(specialArg{3}, 5)
		say("stmt exec: %v", err)
		rows, err := stmt.Query(sql.Named("n", 1))
		say("stmt query named: %v", err)
		if err == nil {
			rows.Close()
		}
		stmt.Close()
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = db.PrepareContext(cctx, "ok")
	say("prepare cancelled: %v", err)
	for _, o := range []*sql.TxOptions{nil, {Isolation: sql.LevelSerializable}, {ReadOnly: true}} {
		tx, err := db.BeginTx(ctx, o)
		say("begin %v: %v", o, err)
		if err == nil {
			say("commit %v", tx.Commit())
		}
	}
	// A transaction rolled back by its context: database/sql keeps the conn
	// only when it can reset and validate it.
	tctx, tcancel := context.WithCancel(ctx)
	if _, err := db.BeginTx(tctx, nil); err == nil {
		tcancel()
		for db.Stats().InUse != 0 { // until database/sql has rolled it back
			runtime.Gosched()
		}
	}
	tcancel()
	say("ping after cancelled tx %v", db.Ping())
	return strings.Join(out, "\n")
}

func TestWrapperBehavesAsTheInnerConn(t *testing.T) {
	run := func(t *testing.T, mk func(*fake) driver.Conn) {
		var results [2]string
		for i, wrap := range []bool{false, true} {
			f := &fake{}
			db := sql.OpenDB(fakeConnector{f: f, make: mk, wrap: wrap})
			db.SetMaxOpenConns(1)
			out := script(db)
			db.Close()
			f.mu.Lock()
			results[i] = out + "\n--- driver saw:\n" + strings.Join(f.log, "\n") + fmt.Sprintf("\n--- conns opened: %d", f.conns)
			f.mu.Unlock()
		}
		if results[0] != results[1] {
			t.Fatalf("unwrapped:\n%s\n\nwrapped:\n%s", results[0], results[1])
		}
	}
	for name, mk := range connVariants() {
		t.Run("conn "+name, func(t *testing.T) { run(t, mk) })
	}
	all := connVariants()["all"]
	for _, v := range []string{"none", "-exec", "-query", "-check", "-conv"} {
		t.Run("stmt "+v, func(t *testing.T) {
			stmtVariant = v
			defer func() { stmtVariant = "" }()
			run(t, all)
			run(t, connVariants()["-check"])
		})
	}
	for _, v := range []string{"none", "-next", "-scan", "-name", "-len", "-null", "-prec"} {
		t.Run("rows "+v, func(t *testing.T) {
			rowsVariant = v
			defer func() { rowsVariant = "" }()
			run(t, all)
		})
	}
}

// wrapping is a connector whose conns are another connector's, wrapped
// or not.
type wrapping struct {
	inner driver.Connector
	wrap  bool
}

func (c wrapping) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil || !c.wrap {
		return conn, err
	}
	return wrapConn(conn, nil, nil, time.Time{}), nil
}

func (c wrapping) Driver() driver.Driver { return c.inner.Driver() }

// sameThrough runs script on a database of inner's conns, then of the same
// conns wrapped, and fails t when the two differ.
func sameThrough(t *testing.T, inner func() driver.Connector, script func(*sql.DB) string) {
	t.Helper()
	var out [2]string
	for i, wrap := range []bool{false, true} {
		db := sql.OpenDB(wrapping{inner(), wrap})
		db.SetMaxOpenConns(1)
		out[i] = script(db)
		db.Close()
	}
	if out[0] != out[1] {
		t.Fatalf("unwrapped:\n%s\nwrapped:\n%s", out[0], out[1])
	}
}

// TestWrapperBehavesAsSqlmockAndMemdb: the same with go-sqlmock's conns
// (expectations, errors, pings) and the in-memory driver of the
// benchmarks.
func TestWrapperBehavesAsSqlmockAndMemdb(t *testing.T) {
	sameThrough(t, func() driver.Connector { return memConnector{Rows: 3} }, func(db *sql.DB) string {
		return script(db)
	})
	seq := 0
	sameThrough(t, func() driver.Connector {
		seq++
		name := fmt.Sprintf("wrapper-sqlmock-%d", seq)
		mdb, mock, err := sqlmock.NewWithDSN(name, sqlmock.MonitorPingsOption(true), sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mdb.Close() })
		mock.ExpectPing()
		mock.ExpectExec("UPDATE t SET x = $1").WithArgs(int64(1)).WillReturnResult(sqlmock.NewResult(0, 1))
		mock.ExpectExec("UPDATE t SET x = $1").WillReturnError(driver.ErrBadConn)
		mock.ExpectQuery("SELECT x FROM t").WillReturnRows(sqlmock.NewRows([]string{"x"}).AddRow(int64(1)).AddRow(int64(2)))
		mock.ExpectQuery("SELECT broken").WillReturnError(errors.New("boom"))
		mock.ExpectBegin()
		mock.ExpectCommit()
		mock.ExpectPrepare("SELECT y FROM t WHERE id = $1").ExpectQuery().WithArgs(int64(7)).
			WillReturnRows(sqlmock.NewRows([]string{"y"}).AddRow(int64(9)))
		return connectorFunc(func(context.Context) (driver.Conn, error) { return mdb.Driver().Open(name) })
	}, func(db *sql.DB) string {
		var out []string
		say := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
		say("ping %v", db.Ping())
		_, err := db.Exec("UPDATE t SET x = $1", 1)
		say("exec %v", err)
		_, err = db.Exec("UPDATE t SET x = $1", 2)
		say("exec bad conn %v", err)
		rows, err := db.Query("SELECT x FROM t")
		say("query %v", err)
		if err == nil {
			cts, _ := rows.ColumnTypes()
			for _, ct := range cts {
				say("column %s %v %s", ct.Name(), ct.ScanType(), ct.DatabaseTypeName())
			}
			for rows.Next() {
				var x int64
				rows.Scan(&x)
				say("row %d", x)
			}
			rows.Close()
		}
		_, err = db.Query("SELECT broken")
		say("broken %v", err)
		tx, err := db.Begin()
		say("begin %v", err)
		if err == nil {
			say("commit %v", tx.Commit())
		}
		var y int64
		say("prepared %v %d", db.QueryRow("SELECT y FROM t WHERE id = $1", 7).Scan(&y), y)
		return strings.Join(out, "\n")
	})
}

type connectorFunc func(context.Context) (driver.Conn, error)

func (f connectorFunc) Connect(ctx context.Context) (driver.Conn, error) { return f(ctx) }
func (f connectorFunc) Driver() driver.Driver                            { return nil }

// TestRecyclingWorksWhateverTheInnerConnHas: a conn whose credentials are
// about to expire is retired through ResetSession and IsValid, which the
// wrapper always offers, even when the inner conn has neither.
func TestRecyclingWorksWhateverTheInnerConnHas(t *testing.T) {
	for name, mk := range connVariants() {
		f := &fake{}
		c := wrapConn(mk(f), nil, nil, time.Now().Add(-time.Second))
		if c.(driver.Validator).IsValid() {
			t.Errorf("%s: an expiring conn is valid", name)
		}
		if err := c.(driver.SessionResetter).ResetSession(context.Background()); !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("%s: ResetSession = %v", name, err)
		}
		fresh := wrapConn(mk(f), nil, nil, time.Time{})
		if !fresh.(driver.Validator).IsValid() || fresh.(driver.SessionResetter).ResetSession(context.Background()) != nil {
			t.Errorf("%s: a fresh conn is retired", name)
		}
	}
}
