CREATE TABLE sqlc_authors (
  id   bigserial PRIMARY KEY,
  name text      NOT NULL,
  bio  text
);
