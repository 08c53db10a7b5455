package integrations_test

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"
)

//go:embed testdata/goose/*.sql
var gooseMigrations embed.FS

// TestGoose: goose's migrations on a *sql.DB from securepg, with the
// dialect named: the package-level API (SetDialect, Up) and a Provider.
// goose.OpenDBWithDriver("securepg", ...) is rejected as an unknown
// dialect, and OpenDBWithDriver("postgres", ...) opens pgx's own driver,
// not securepg.
func TestGoose(t *testing.T) {
	if _, err := goose.OpenDBWithDriver("securepg", "host=localhost"); err == nil {
		t.Error(`goose.OpenDBWithDriver("securepg") was accepted: the README's advice may be out of date`)
	}
	goose.SetLogger(goose.NopLogger())
	goose.SetBaseFS(gooseMigrations)
	t.Cleanup(func() { goose.SetBaseFS(nil) })
	if err := goose.SetDialect("postgres"); err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, name, dsn, _ string) {
		ctx := context.Background()
		db := openDB(t, name, dsn)
		dropGoose := func() {
			db.Exec("DROP TABLE IF EXISTS goose_items")
			db.Exec("DROP TABLE IF EXISTS goose_db_version")
		}
		t.Run("SetDialect and Up", func(t *testing.T) {
			dropGoose()
			t.Cleanup(dropGoose)
			if err := goose.UpContext(ctx, db, "testdata/goose"); err != nil {
				t.Fatal(err)
			}
			if v, err := goose.GetDBVersionContext(ctx, db); err != nil || v != 2 {
				t.Fatalf("version after up: %d, %v", v, err)
			}
			migratedRoundTrip(t, db, "goose_items")
			if err := goose.DownContext(ctx, db, "testdata/goose"); err != nil {
				t.Fatal(err)
			}
			if v, err := goose.GetDBVersionContext(ctx, db); err != nil || v != 1 {
				t.Fatalf("version after down: %d, %v", v, err)
			}
		})
		t.Run("Provider", func(t *testing.T) {
			dropGoose()
			t.Cleanup(dropGoose)
			fsys, err := fs.Sub(gooseMigrations, "testdata/goose")
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := p.Up(ctx); err != nil || len(res) != 2 {
				t.Fatalf("up: %v, %v", res, err)
			}
			if v, err := p.GetDBVersion(ctx); err != nil || v != 2 {
				t.Fatalf("version: %d, %v", v, err)
			}
			migratedRoundTrip(t, db, "goose_items")
		})
	})
}

// migratedRoundTrip writes and reads the migrated table with
// placeholders, on a connection that pg_stat_ssl says is encrypted.
func migratedRoundTrip(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	ctx := context.Background()
	var ssl bool
	err := db.QueryRowContext(ctx, sslQuery).Scan(&ssl)
	wantSSL(t, ssl, err)
	var id int64
	if err := db.QueryRowContext(ctx, "INSERT INTO "+table+" (name, qty) VALUES ($1, $2) RETURNING id", "apple", 3).Scan(&id); err != nil {
		t.Fatal(err)
	}
	var qty int
	if err := db.QueryRowContext(ctx, "SELECT qty FROM "+table+" WHERE id = $1 AND name = $2", id, "apple").Scan(&qty); err != nil || qty != 3 {
		t.Fatalf("qty %d, %v", qty, err)
	}
}
