// Hand-written in the shape sqlc v1.31 generates; see db.go.
// source: query.sql

package sqlcdb

import (
	"context"
	"database/sql"
)

const connectionSSL = `-- name: ConnectionSSL :one
SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()
`

// ConnectionSSL reports whether the server sees this connection encrypted.
func (q *Queries) ConnectionSSL(ctx context.Context) (bool, error) {
	row := q.queryRow(ctx, q.connectionSSLStmt, connectionSSL)
	var ssl bool
	err := row.Scan(&ssl)
	return ssl, err
}

const createAuthor = `-- name: CreateAuthor :one
INSERT INTO sqlc_authors (name, bio) VALUES ($1, $2)
RETURNING id, name, bio
`

// CreateAuthorParams are CreateAuthor's arguments.
type CreateAuthorParams struct {
	Name string
	Bio  sql.NullString
}

// CreateAuthor inserts an author and returns the row.
func (q *Queries) CreateAuthor(ctx context.Context, arg CreateAuthorParams) (SqlcAuthor, error) {
	row := q.queryRow(ctx, q.createAuthorStmt, createAuthor, arg.Name, arg.Bio)
	var i SqlcAuthor
	err := row.Scan(&i.ID, &i.Name, &i.Bio)
	return i, err
}

const deleteAuthor = `-- name: DeleteAuthor :execrows
DELETE FROM sqlc_authors
WHERE id = $1
`

// DeleteAuthor deletes an author and returns the rows affected.
func (q *Queries) DeleteAuthor(ctx context.Context, id int64) (int64, error) {
	result, err := q.exec(ctx, q.deleteAuthorStmt, deleteAuthor, id)
	if err != nil {
		return 0, err
	}
	return result.RowsAffected()
}

const getAuthor = `-- name: GetAuthor :one
SELECT id, name, bio FROM sqlc_authors
WHERE id = $1 LIMIT 1
`

// GetAuthor reads one author.
func (q *Queries) GetAuthor(ctx context.Context, id int64) (SqlcAuthor, error) {
	row := q.queryRow(ctx, q.getAuthorStmt, getAuthor, id)
	var i SqlcAuthor
	err := row.Scan(&i.ID, &i.Name, &i.Bio)
	return i, err
}

const listAuthors = `-- name: ListAuthors :many
SELECT id, name, bio FROM sqlc_authors
ORDER BY name
`

// ListAuthors reads every author, by name.
func (q *Queries) ListAuthors(ctx context.Context) ([]SqlcAuthor, error) {
	rows, err := q.query(ctx, q.listAuthorsStmt, listAuthors)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []SqlcAuthor
	for rows.Next() {
		var i SqlcAuthor
		if err := rows.Scan(&i.ID, &i.Name, &i.Bio); err != nil {
			return nil, err
		}
		items = append(items, i)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

const updateAuthorBio = `-- name: UpdateAuthorBio :exec
UPDATE sqlc_authors SET bio = $2
WHERE id = $1
`

// UpdateAuthorBioParams are UpdateAuthorBio's arguments.
type UpdateAuthorBioParams struct {
	ID  int64
	Bio sql.NullString
}

// UpdateAuthorBio sets an author's bio.
func (q *Queries) UpdateAuthorBio(ctx context.Context, arg UpdateAuthorBioParams) error {
	_, err := q.exec(ctx, q.updateAuthorBioStmt, updateAuthorBio, arg.ID, arg.Bio)
	return err
}
