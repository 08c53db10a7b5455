package integrations_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/postgres"
	_ "github.com/golang-migrate/migrate/v4/source/file"
)

// TestGolangMigrate: golang-migrate on a *sql.DB from securepg through
// postgres.WithInstance. (Its URL form, migrate.New(src, "postgres://..."),
// opens lib/pq's own driver, and knows no "securepg" scheme.)
func TestGolangMigrate(t *testing.T) {
	dir, err := filepath.Abs("testdata/migrate")
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, name, dsn, _ string) {
		db := openDB(t, name, dsn)
		dropMigrate := func() {
			db.Exec("DROP TABLE IF EXISTS migrate_items")
			db.Exec("DROP TABLE IF EXISTS schema_migrations")
		}
		dropMigrate()
		t.Cleanup(dropMigrate)

		driver, err := postgres.WithInstance(db, &postgres.Config{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := migrate.NewWithDatabaseInstance("file://"+filepath.ToSlash(dir), "postgres", driver)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Up(); err != nil {
			t.Fatal(err)
		}
		if v, dirty, err := m.Version(); err != nil || v != 2 || dirty {
			t.Fatalf("version after up: %d dirty=%v, %v", v, dirty, err)
		}
		migratedRoundTrip(t, db, "migrate_items")
		if err := m.Steps(-1); err != nil {
			t.Fatal(err)
		}
		if v, _, err := m.Version(); err != nil || v != 1 {
			t.Fatalf("version after a step down: %d, %v", v, err)
		}
		if err := m.Up(); err != nil {
			t.Fatal(err)
		}
		if err := m.Up(); !errors.Is(err, migrate.ErrNoChange) {
			t.Fatalf("second up: %v", err)
		}
	})
}
