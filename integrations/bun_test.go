package integrations_test

import (
	"context"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

type bunItem struct {
	bun.BaseModel `bun:"table:bun_items"`

	ID   int64  `bun:"id,pk,autoincrement"`
	Name string `bun:"name,notnull"`
	Qty  int    `bun:"qty,notnull"`
}

// TestBun: bun's PostgreSQL dialect over a *sql.DB from securepg.
func TestBun(t *testing.T) {
	backends(t, func(t *testing.T, name, dsn, _ string) {
		ctx := context.Background()
		db := bun.NewDB(openDB(t, name, dsn), pgdialect.New())

		var ssl bool
		err := db.NewRaw(sslQuery).Scan(ctx, &ssl)
		wantSSL(t, ssl, err)

		if _, err := db.NewDropTable().Model((*bunItem)(nil)).IfExists().Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NewCreateTable().Model((*bunItem)(nil)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.NewDropTable().Model((*bunItem)(nil)).IfExists().Exec(context.Background()) })

		items := []bunItem{{Name: "apple", Qty: 3}, {Name: "pear", Qty: 1}}
		if _, err := db.NewInsert().Model(&items).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if items[0].ID == 0 || items[1].ID == 0 {
			t.Fatalf("ids from RETURNING: %+v", items)
		}
		var got bunItem
		if err := db.NewSelect().Model(&got).Where("name = ?", "apple").Scan(ctx); err != nil || got.ID != items[0].ID {
			t.Fatalf("select: %+v, %v", got, err)
		}
		if _, err := db.NewUpdate().Model(&got).Set("qty = ?", 8).WherePK().Exec(ctx); err != nil {
			t.Fatal(err)
		}
		err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewDelete().Model((*bunItem)(nil)).Where("id = ?", items[1].ID).Exec(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := db.NewSelect().Model((*bunItem)(nil)).Where("qty > ?", 5).Count(ctx)
		if err != nil || n != 1 {
			t.Fatalf("count: %d, %v", n, err)
		}
	})
}
