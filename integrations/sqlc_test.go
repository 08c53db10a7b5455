package integrations_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/integrations/sqlc/sqlcdb"
	"github.com/securepg/securepg/integrations/sqlc/sqlcpgx"
)

// TestSQLC: sqlc-shaped code (see sqlc/sqlc.yaml) on a *sql.DB from
// securepg: unprepared (New), prepared (Prepare), in a transaction
// (WithTx); and the pgx/v5 variant on the *pgx.Conn that sql.Conn.Raw
// hands over with the pgx backend, and on a pgxpool.Pool configured by
// securepg.ConfigurePool.
func TestSQLC(t *testing.T) {
	schema, err := os.ReadFile("sqlc/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, name, dsn, _ string) {
		ctx := context.Background()
		db := openDB(t, name, dsn)
		reset := func(t *testing.T) {
			t.Helper()
			if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS sqlc_authors"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, string(schema)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS sqlc_authors") })
		}
		t.Run("database/sql New", func(t *testing.T) {
			reset(t)
			if err := sqlcdbRoundTrip(ctx, sqlcdb.New(db)); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("database/sql Prepare and WithTx", func(t *testing.T) {
			reset(t)
			q, err := sqlcdb.Prepare(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if err := sqlcdbRoundTrip(ctx, q); err != nil {
				t.Fatal(err)
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			a, err := q.WithTx(tx).CreateAuthor(ctx, sqlcdb.CreateAuthorParams{Name: "rolled back"})
			if err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if _, err := q.GetAuthor(ctx, a.ID); !errors.Is(err, sql.ErrNoRows) {
				t.Fatalf("a rolled back author: %v", err)
			}
		})
		if name != "securepg" {
			return // the pgx/v5 variant needs pgx: Raw hands over lib/pq's conn with the pq backend, and ConfigurePool is pgx
		}
		t.Run("pgx/v5 through sql.Conn.Raw", func(t *testing.T) {
			reset(t)
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Raw(func(dc any) error {
				sc, ok := dc.(*stdlib.Conn)
				if !ok {
					return fmt.Errorf("Raw handed over %T, not *stdlib.Conn", dc)
				}
				return sqlcpgxRoundTrip(ctx, sqlcpgx.New(sc.Conn()), sc.Conn().Begin)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		t.Run("pgx/v5 on a pool configured by securepg", func(t *testing.T) {
			reset(t)
			pc, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := securepg.ConfigurePool(pc); err != nil {
				t.Fatal(err)
			}
			pool, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if err := sqlcpgxRoundTrip(ctx, sqlcpgx.New(pool), pool.Begin); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func sqlcdbRoundTrip(ctx context.Context, q *sqlcdb.Queries) error {
	if ssl, err := q.ConnectionSSL(ctx); err != nil || !ssl {
		return fmt.Errorf("ConnectionSSL: %v, %v", ssl, err)
	}
	a, err := q.CreateAuthor(ctx, sqlcdb.CreateAuthorParams{Name: "Ursula", Bio: sql.NullString{String: "wizard", Valid: true}})
	if err != nil {
		return fmt.Errorf("CreateAuthor: %w", err)
	}
	b, err := q.CreateAuthor(ctx, sqlcdb.CreateAuthorParams{Name: "Iain"})
	if err != nil {
		return fmt.Errorf("CreateAuthor: %w", err)
	}
	if got, err := q.GetAuthor(ctx, a.ID); err != nil || got != a {
		return fmt.Errorf("GetAuthor: %+v, %v; want %+v", got, err, a)
	}
	if err := q.UpdateAuthorBio(ctx, sqlcdb.UpdateAuthorBioParams{ID: b.ID, Bio: sql.NullString{String: "culture", Valid: true}}); err != nil {
		return fmt.Errorf("UpdateAuthorBio: %w", err)
	}
	all, err := q.ListAuthors(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "Iain" || all[0].Bio.String != "culture" {
		return fmt.Errorf("ListAuthors: %+v, %v", all, err)
	}
	if n, err := q.DeleteAuthor(ctx, a.ID); err != nil || n != 1 {
		return fmt.Errorf("DeleteAuthor: %d, %v", n, err)
	}
	if n, err := q.DeleteAuthor(ctx, a.ID); err != nil || n != 0 {
		return fmt.Errorf("DeleteAuthor again: %d, %v", n, err)
	}
	return nil
}

// sqlcpgxRoundTrip runs the pgx/v5 variant's queries, and one in a
// transaction from begin that is rolled back.
func sqlcpgxRoundTrip(ctx context.Context, q *sqlcpgx.Queries, begin func(context.Context) (pgx.Tx, error)) error {
	if ssl, err := q.ConnectionSSL(ctx); err != nil || !ssl {
		return fmt.Errorf("ConnectionSSL: %v, %v", ssl, err)
	}
	a, err := q.CreateAuthor(ctx, sqlcpgx.CreateAuthorParams{Name: "Ursula", Bio: pgtype.Text{String: "wizard", Valid: true}})
	if err != nil {
		return fmt.Errorf("CreateAuthor: %w", err)
	}
	b, err := q.CreateAuthor(ctx, sqlcpgx.CreateAuthorParams{Name: "Iain"})
	if err != nil {
		return fmt.Errorf("CreateAuthor: %w", err)
	}
	if got, err := q.GetAuthor(ctx, a.ID); err != nil || got != a {
		return fmt.Errorf("GetAuthor: %+v, %v; want %+v", got, err, a)
	}
	if err := q.UpdateAuthorBio(ctx, sqlcpgx.UpdateAuthorBioParams{ID: b.ID, Bio: pgtype.Text{String: "culture", Valid: true}}); err != nil {
		return fmt.Errorf("UpdateAuthorBio: %w", err)
	}
	all, err := q.ListAuthors(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "Iain" || all[0].Bio.String != "culture" {
		return fmt.Errorf("ListAuthors: %+v, %v", all, err)
	}
	if n, err := q.DeleteAuthor(ctx, a.ID); err != nil || n != 1 {
		return fmt.Errorf("DeleteAuthor: %d, %v", n, err)
	}
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	c, err := q.WithTx(tx).CreateAuthor(ctx, sqlcpgx.CreateAuthorParams{Name: "rolled back"})
	if rerr := tx.Rollback(ctx); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	if _, err := q.GetAuthor(ctx, c.ID); !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("a rolled back author: %v", err)
	}
	return nil
}
