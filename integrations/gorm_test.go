package integrations_test

import (
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type gormItem struct {
	ID   int64
	Name string
	Qty  int
}

func (gormItem) TableName() string { return "gorm_items" }

// TestGORM: GORM's postgres dialector on securepg, by driver name and
// with a *sql.DB. GORM's usual postgres.Open(dsn) uses pgx's own driver
// and bypasses securepg; the DriverName form refuses a weak DSN.
func TestGORM(t *testing.T) {
	cfg := &gorm.Config{Logger: logger.Discard}
	backends(t, func(t *testing.T, name, dsn, weak string) {
		t.Run("DriverName", func(t *testing.T) {
			gdb, err := gorm.Open(postgres.New(postgres.Config{DriverName: name, DSN: dsn}), cfg)
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, err := gdb.DB()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sqlDB.Close() })
			gormRoundTrip(t, gdb)
		})
		t.Run("Conn", func(t *testing.T) {
			sqlDB := openDB(t, name, dsn)
			gdb, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), cfg)
			if err != nil {
				t.Fatal(err)
			}
			gormRoundTrip(t, gdb)
		})
		t.Run("DriverName refuses a weak DSN", func(t *testing.T) {
			_, err := gorm.Open(postgres.New(postgres.Config{DriverName: name, DSN: weak}), cfg)
			wantRefused(t, err)
		})
	})
}

// gormRoundTrip migrates, creates, reads with a placeholder, updates,
// counts and deletes, and asks the server about TLS through GORM.
func gormRoundTrip(t *testing.T, gdb *gorm.DB) {
	t.Helper()
	var ssl bool
	err := gdb.Raw(sslQuery).Scan(&ssl).Error
	wantSSL(t, ssl, err)

	m := gdb.Migrator()
	if err := m.DropTable(&gormItem{}); err != nil {
		t.Fatal(err)
	}
	if err := m.AutoMigrate(&gormItem{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.DropTable(&gormItem{}) })

	a, b := gormItem{Name: "apple", Qty: 3}, gormItem{Name: "pear", Qty: 1}
	if err := gdb.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	if err := gdb.Create(&b).Error; err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || b.ID == 0 || a.ID == b.ID {
		t.Fatalf("ids from RETURNING: %d, %d", a.ID, b.ID)
	}
	var got gormItem
	if err := gdb.First(&got, "name = ?", "apple").Error; err != nil || got != a {
		t.Fatalf("First: %+v, %v", got, err)
	}
	if err := gdb.Model(&got).Update("qty", 7).Error; err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := gdb.Model(&gormItem{}).Where("qty > ? AND name <> ?", 2, "pear").Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("Count: %d, %v", n, err)
	}
	if err := gdb.Delete(&gormItem{}, b.ID).Error; err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := gdb.Model(&gormItem{}).Order("id").Pluck("name", &names).Error; err != nil || len(names) != 1 || names[0] != "apple" {
		t.Fatalf("Pluck: %v, %v", names, err)
	}
}
