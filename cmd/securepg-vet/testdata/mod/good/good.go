// Package good goes through securepg, or says why it does not.
package good

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
)

func Open(ctx context.Context, dsn string) {
	sql.Open("securepg", dsn)
	//securepg:allow a throwaway local database for a development tool
	pgx.Connect(ctx, dsn)
}
