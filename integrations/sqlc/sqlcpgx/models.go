// Hand-written in the shape sqlc v1.31 generates; see db.go.

package sqlcpgx

import (
	"github.com/jackc/pgx/v5/pgtype"
)

// SqlcAuthor is a row of sqlc_authors.
type SqlcAuthor struct {
	ID   int64
	Name string
	Bio  pgtype.Text
}
