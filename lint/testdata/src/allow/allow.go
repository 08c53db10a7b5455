// Package allow: calls accepted with a securepg:allow comment.
package allow

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5/pgconn"
)

func accepted(ctx context.Context, dsn string) {
	//securepg:allow the test cluster is reached over its unix socket only
	pgconn.Connect(ctx, dsn)

	sql.Open("pgx", dsn) //securepg:allow local development tool, never deployed

	// securepg:allow with a space, in a group of comments
	// and a second line
	sql.Open("postgres", dsn) // want `sql.Open with driver "postgres" bypasses`
}

func notAccepted(ctx context.Context, dsn string) {
	// securepg: allow is not the directive
	pgconn.Connect(ctx, dsn) // want `pgconn.Connect bypasses`

	// securepg:allow covers the next line only

	pgconn.Connect(ctx, dsn) // want `pgconn.Connect bypasses`
}
