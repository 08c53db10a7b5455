package integrations_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
)

type sqlxItem struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
	Qty  int    `db:"qty"`
}

// TestSQLX: sqlx picks its placeholder style from the driver name, and
// does not know "securepg": Rebind, Named* and In then emit '?', a syntax
// error for PostgreSQL. Either sqlx.NewDb(db, "postgres") or
// sqlx.BindDriver("securepg", sqlx.DOLLAR) fixes it.
func TestSQLX(t *testing.T) {
	if sqlx.BindType("securepg") != sqlx.UNKNOWN {
		t.Fatal(`sqlx already binds "securepg": the failure cannot be shown`)
	}
	backends(t, func(t *testing.T, name, dsn, weak string) {
		ctx := context.Background()
		t.Run("unknown name emits ?", func(t *testing.T) {
			db, err := sqlx.Open(name, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			sqlxTable(t, db)
			if q := db.Rebind("SELECT name FROM sqlx_items WHERE id = ?"); q != "SELECT name FROM sqlx_items WHERE id = ?" {
				t.Fatalf("Rebind: %q", q)
			}
			_, err = db.NamedExecContext(ctx, "INSERT INTO sqlx_items (name, qty) VALUES (:name, :qty)", sqlxItem{Name: "apple", Qty: 3})
			if sqlState(err) != "42601" { // syntax_error
				t.Fatalf("NamedExec with '?' placeholders: want a syntax error (42601), got %v", err)
			}
		})
		t.Run("NewDb postgres", func(t *testing.T) {
			db := sqlx.NewDb(openDB(t, name, dsn), "postgres")
			sqlxRoundTrip(t, db)
		})
		t.Run("BindDriver", func(t *testing.T) {
			sqlx.BindDriver(name, sqlx.DOLLAR)
			t.Cleanup(func() { sqlx.BindDriver(name, sqlx.UNKNOWN) })
			db, err := sqlx.Open(name, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			sqlxRoundTrip(t, db)
			if _, err := sqlx.Open(name, weak); err == nil {
				t.Fatal("sqlx.Open accepted a DSN that the policy refuses")
			} else {
				wantRefused(t, err)
			}
		})
	})
}

func sqlxTable(t *testing.T, db *sqlx.DB) {
	t.Helper()
	db.MustExec("DROP TABLE IF EXISTS sqlx_items")
	db.MustExec("CREATE TABLE sqlx_items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL)")
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS sqlx_items") })
}

// sqlxRoundTrip uses what depends on the bind type: NamedExec, Rebind,
// In, and plain Get/Select with $n.
func sqlxRoundTrip(t *testing.T, db *sqlx.DB) {
	t.Helper()
	ctx := context.Background()
	var ssl bool
	err := db.GetContext(ctx, &ssl, sslQuery)
	wantSSL(t, ssl, err)

	sqlxTable(t, db)
	items := []sqlxItem{{Name: "apple", Qty: 3}, {Name: "pear", Qty: 1}, {Name: "plum", Qty: 5}}
	if _, err := db.NamedExecContext(ctx, "INSERT INTO sqlx_items (name, qty) VALUES (:name, :qty)", items); err != nil {
		t.Fatalf("NamedExec: %v", err)
	}
	var got sqlxItem
	if err := db.GetContext(ctx, &got, db.Rebind("SELECT id, name, qty FROM sqlx_items WHERE name = ? AND qty > ?"), "apple", 1); err != nil || got.Qty != 3 {
		t.Fatalf("Get with Rebind: %+v, %v", got, err)
	}
	q, args, err := sqlx.In("SELECT name FROM sqlx_items WHERE name IN (?) ORDER BY name", []string{"pear", "plum"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, db.Rebind(q), args...); err != nil || len(names) != 2 || names[0] != "pear" {
		t.Fatalf("Select with In: %v, %v", names, err)
	}
	rows, err := db.NamedQueryContext(ctx, "UPDATE sqlx_items SET qty = :qty WHERE id = :id RETURNING qty", sqlxItem{ID: got.ID, Qty: 9})
	if err != nil {
		t.Fatalf("NamedQuery: %v", err)
	}
	var qty int
	for rows.Next() {
		if err := rows.Scan(&qty); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Close(); err != nil || qty != 9 {
		t.Fatalf("NamedQuery: qty %d, %v", qty, err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM sqlx_items WHERE id = $1", got.ID); err != nil {
		t.Fatal(err)
	}
}
