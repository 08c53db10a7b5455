package securepg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"

	"github.com/securepg/securepg/internal/core"
)

// fullConn implements every optional interface; the pickers carve subsets
// out of it.
type fullConn struct{ queryErr error }

func (fullConn) Prepare(string) (driver.Stmt, error)      { return fullStmt{}, nil }
func (fullConn) Close() error                             { return nil }
func (fullConn) Begin() (driver.Tx, error)                { return nil, errors.New("no") }
func (fullConn) Ping(context.Context) error               { return nil }
func (fullConn) ResetSession(context.Context) error       { return nil }
func (fullConn) IsValid() bool                            { return true }
func (fullConn) CheckNamedValue(*driver.NamedValue) error { return driver.ErrSkip }
func (c fullConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	if c.queryErr != nil {
		return nil, c.queryErr
	}
	return fullRows{}, nil
}
func (c fullConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return nil, c.queryErr
}
func (fullConn) PrepareContext(context.Context, string) (driver.Stmt, error) { return fullStmt{}, nil }
func (fullConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errors.New("no")
}

type fullStmt struct{}

func (fullStmt) Close() error                               { return nil }
func (fullStmt) NumInput() int                              { return -1 }
func (fullStmt) Exec([]driver.Value) (driver.Result, error) { return nil, nil }
func (fullStmt) Query([]driver.Value) (driver.Rows, error)  { return fullRows{}, nil }
func (fullStmt) ExecContext(context.Context, []driver.NamedValue) (driver.Result, error) {
	return nil, nil
}
func (fullStmt) QueryContext(context.Context, []driver.NamedValue) (driver.Rows, error) {
	return fullRows{}, nil
}
func (fullStmt) CheckNamedValue(*driver.NamedValue) error  { return nil }
func (fullStmt) ColumnConverter(int) driver.ValueConverter { return driver.DefaultParameterConverter }

type fullRows struct{}

func (fullRows) Columns() []string                                 { return []string{"a"} }
func (fullRows) Close() error                                      { return nil }
func (fullRows) Next([]driver.Value) error                         { return io.EOF }
func (fullRows) HasNextResultSet() bool                            { return false }
func (fullRows) NextResultSet() error                              { return io.EOF }
func (fullRows) ColumnTypeScanType(int) reflect.Type               { return reflect.TypeOf(int32(0)) }
func (fullRows) ColumnTypeDatabaseTypeName(int) string             { return "INT4" }
func (fullRows) ColumnTypeLength(int) (int64, bool)                { return 0, false }
func (fullRows) ColumnTypeNullable(int) (bool, bool)               { return true, true }
func (fullRows) ColumnTypePrecisionScale(int) (int64, int64, bool) { return 0, 0, false }

// TestPickersExposeExactlyTheInnerInterfaces checks every combination: an
// inner value with exactly the interfaces of mask m, once wrapped, has
// exactly those interfaces again.
func TestPickersExposeExactlyTheInnerInterfaces(t *testing.T) {
	for m := uint(0); m < 1<<len(pickConnInterfaces); m++ {
		inner := pickConnMask(&wconn{inner: fullConn{}}, m)
		if got := pickConnBits(inner); got != m {
			t.Fatalf("conn fixture for mask %08b has %08b", m, got)
		}
		if got := pickConnBits(pickConn(&wconn{inner: inner})); got != m {
			t.Fatalf("conn: inner %08b, wrapper %08b", m, got)
		}
	}
	for m := uint(0); m < 1<<len(pickStmtInterfaces); m++ {
		inner := pickStmtMask(&wstmt{inner: fullStmt{}}, m)
		if got := pickStmtBits(pickStmt(&wstmt{inner: inner})); got != m {
			t.Fatalf("stmt: inner %04b, wrapper %04b", m, got)
		}
	}
	for m := uint(0); m < 1<<len(pickRowsInterfaces); m++ {
		inner := pickRowsMask(wrows{inner: fullRows{}}, m)
		if got := pickRowsBits(pickRows(wrows{inner: inner})); got != m {
			t.Fatalf("rows: inner %06b, wrapper %06b", m, got)
		}
	}
}

func TestWrapperPassesErrSkipThrough(t *testing.T) {
	c := (&wconn{}).wrap(fullConn{queryErr: driver.ErrSkip})
	if _, err := c.(driver.QueryerContext).QueryContext(context.Background(), "q", nil); err != driver.ErrSkip {
		t.Fatalf("QueryContext: %v, want driver.ErrSkip itself", err)
	}
	if _, err := c.(driver.ExecerContext).ExecContext(context.Background(), "q", nil); err != driver.ErrSkip {
		t.Fatalf("ExecContext: %v, want driver.ErrSkip itself", err)
	}
	if err := c.(driver.NamedValueChecker).CheckNamedValue(&driver.NamedValue{}); err != driver.ErrSkip {
		t.Fatalf("CheckNamedValue: %v, want driver.ErrSkip itself", err)
	}
}

func TestConnectNeverReturnsErrBadConn(t *testing.T) {
	c := &connector{policy: core.DefaultPolicy(), logger: discardLogger()}
	err := c.connectError(context.Background(), driver.ErrBadConn, nil, core.NewRecorder())
	if err == nil || errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("connectError(ErrBadConn) = %v", err)
	}
}

// TestDatabaseSQLContract runs the database/sql contract on both backends
// against the real server.
func TestDatabaseSQLContract(t *testing.T) {
	l := getLab(t)
	dsn := l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
	const q = "SELECT 1::int4 AS i, 'x'::text AS s, now() AS ts, 1.5::numeric AS n, NULL::int8 AS z, '{1,2}'::int8[] AS arr"
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_DRIVER", drv)
			db, err := sql.Open("securepg", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			plainName := map[string]string{"pgx": "pgx/v5", "pq": "postgres"}[drv]
			plain, err := sql.Open(plainName, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			ctx := context.Background()

			// sql.Conn.Raw hands over the underlying driver's conn.
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Raw(func(dc any) error {
				if drv == "pgx" {
					sc, ok := dc.(*stdlib.Conn)
					if !ok {
						t.Fatalf("Raw gave %T, want pgx's *stdlib.Conn", dc)
					}
					// What code in the wild does through Raw.
					var n int
					return sc.Conn().QueryRow(ctx, "SELECT 41 + 1").Scan(&n)
				}
				inner := UnwrapConn(dc)
				if got := reflect.TypeOf(inner).String(); got != "*pq.conn" {
					t.Fatalf("UnwrapConn gave %s, want *pq.conn", got)
				}
				if w, i := pickConnBits(dc), pickConnBits(inner); w != i {
					t.Fatalf("wrapper interfaces %08b, lib/pq conn %08b", w, i)
				}
				if _, ok := dc.(driver.Validator); !ok {
					t.Fatal("lib/pq's Validator is hidden")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			// Column types are what the driver reports.
			got := columnTypes(t, db, q)
			want := columnTypes(t, plain, q)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("column types differ:\n securepg %v\n plain    %v", got, want)
			}

			// Driver-specific values bind through NamedValueChecker.
			var n int64
			if drv == "pgx" {
				err = db.QueryRow("SELECT $1::int4 + 1", pgtype.Int4{Int32: 41, Valid: true}).Scan(&n)
			} else {
				err = db.QueryRow("SELECT cardinality($1::int8[]) + 40", pq.Array([]int64{1, 2})).Scan(&n)
			}
			if err != nil || n != 42 {
				t.Fatalf("driver type argument: %d, %v", n, err)
			}

			// Prepared statements, transactions, errors.
			stmt, err := db.Prepare("SELECT $1::text")
			if err != nil {
				t.Fatal(err)
			}
			var s string
			if err := stmt.QueryRow("hello").Scan(&s); err != nil || s != "hello" {
				t.Fatalf("prepared: %q, %v", s, err)
			}
			stmt.Close()
			tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			var iso string
			if err := tx.QueryRow("SHOW transaction_isolation").Scan(&iso); err != nil || iso != "serializable" {
				t.Fatalf("isolation %q, %v", iso, err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("SELECT * FROM no_such_table"); err == nil {
				t.Fatal("expected an error")
			}
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type colType struct {
	Name, DBType string
	Scan         reflect.Type
	Nullable     [2]bool
	Length       int64
	HasLength    bool
	Prec, Scale  int64
	HasPrecScale bool
}

func columnTypes(t *testing.T, db *sql.DB, q string) []colType {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var out []colType
	for _, ct := range cts {
		c := colType{Name: ct.Name(), DBType: ct.DatabaseTypeName(), Scan: ct.ScanType()}
		c.Nullable[0], c.Nullable[1] = ct.Nullable()
		c.Length, c.HasLength = ct.Length()
		c.Prec, c.Scale, c.HasPrecScale = ct.DecimalSize()
		out = append(out, c)
	}
	return out
}
