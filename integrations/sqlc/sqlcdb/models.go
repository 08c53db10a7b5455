// Hand-written in the shape sqlc v1.31 generates; see db.go.

package sqlcdb

import (
	"database/sql"
)

// SqlcAuthor is a row of sqlc_authors.
type SqlcAuthor struct {
	ID   int64
	Name string
	Bio  sql.NullString
}
