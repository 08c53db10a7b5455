// Package bad opens PostgreSQL connections without securepg, with the
// real pgx and lib/pq.
package bad

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lib/pq"
)

func Open(ctx context.Context, dsn string) {
	sql.Open("pgx", dsn)
	pgx.Connect(ctx, dsn)
	pgxpool.New(ctx, dsn)
	pq.NewListener(dsn, time.Second, time.Minute, nil)
}
