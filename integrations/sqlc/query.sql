-- name: CreateAuthor :one
INSERT INTO sqlc_authors (name, bio) VALUES ($1, $2)
RETURNING id, name, bio;

-- name: GetAuthor :one
SELECT id, name, bio FROM sqlc_authors
WHERE id = $1 LIMIT 1;

-- name: ListAuthors :many
SELECT id, name, bio FROM sqlc_authors
ORDER BY name;

-- name: UpdateAuthorBio :exec
UPDATE sqlc_authors SET bio = $2
WHERE id = $1;

-- name: DeleteAuthor :execrows
DELETE FROM sqlc_authors
WHERE id = $1;

-- name: ConnectionSSL :one
SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();
