package securepg_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"testing"

	"github.com/securepg/securepg"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
)

// TestDatabaseSQLContract runs the database/sql contract on both backends
// against the real server.
func TestDatabaseSQLContract(t *testing.T) {
	l := getLab(t)
	dsn := l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
	const q = "SELECT 1::int4 AS i, 'x'::text AS s, now() AS ts, 1.5::numeric AS n, NULL::int8 AS z, '{1,2}'::int8[] AS arr"
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			db, err := sql.Open(driverName(drv), dsn)
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
				inner := securepg.UnwrapConn(dc)
				if got := reflect.TypeOf(inner).String(); got != "*pq.conn" {
					t.Fatalf("UnwrapConn gave %s, want *pq.conn", got)
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
