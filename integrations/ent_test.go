package integrations_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// TestEnt: ent's SQL driver over a *sql.DB from securepg, with the
// PostgreSQL dialect named explicitly. (Generated clients take it as
// ent.NewClient(ent.Driver(drv)); their ent.Open("securepg", ...) is
// rejected as an unsupported driver, and entsql.Open("securepg", ...)
// would give a driver whose dialect is "securepg".) No code generation:
// the dialect driver and ent's SQL builder are used directly.
func TestEnt(t *testing.T) {
	backends(t, func(t *testing.T, name, dsn, _ string) {
		ctx := context.Background()
		drv := entsql.OpenDB(dialect.Postgres, openDB(t, name, dsn))
		if drv.Dialect() != dialect.Postgres {
			t.Fatalf("dialect %q", drv.Dialect())
		}

		rows, err := drv.QueryContext(ctx, sslQuery)
		if err != nil {
			t.Fatal(err)
		}
		var ssl bool
		for rows.Next() {
			err = rows.Scan(&ssl)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		wantSSL(t, ssl, err)

		if _, err := drv.ExecContext(ctx, "DROP TABLE IF EXISTS ent_items"); err != nil {
			t.Fatal(err)
		}
		if _, err := drv.ExecContext(ctx, "CREATE TABLE ent_items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { drv.ExecContext(context.Background(), "DROP TABLE IF EXISTS ent_items") })

		// The builder emits $n for the PostgreSQL dialect.
		b := entsql.Dialect(dialect.Postgres)
		q, args := b.Insert("ent_items").Columns("name", "qty").Values("apple", 3).Values("pear", 1).Returning("id").Query()
		var ids entsql.Rows
		if err := drv.Query(ctx, q, args, &ids); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var n int
		for ids.Next() {
			n++
		}
		if err := ids.Close(); err != nil || n != 2 {
			t.Fatalf("%s: %d ids, %v", q, n, err)
		}

		tx, err := drv.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		q, args = b.Update("ent_items").Set("qty", 9).Where(entsql.EQ("name", "apple")).Query()
		if err := tx.Exec(ctx, q, args, nil); err != nil {
			tx.Rollback()
			t.Fatalf("%s: %v", q, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		q, args = b.Select("name").From(entsql.Table("ent_items")).Where(entsql.GT("qty", 5)).Query()
		var sel entsql.Rows
		if err := drv.Query(ctx, q, args, &sel); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var names []string
		for sel.Next() {
			var s string
			if err := sel.Scan(&s); err != nil {
				t.Fatal(err)
			}
			names = append(names, s)
		}
		if err := sel.Close(); err != nil || len(names) != 1 || names[0] != "apple" {
			t.Fatalf("%s: %v, %v", q, names, err)
		}
	})
}
