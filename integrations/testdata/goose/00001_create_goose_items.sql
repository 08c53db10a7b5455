-- +goose Up
CREATE TABLE goose_items (id bigserial PRIMARY KEY, name text NOT NULL);

-- +goose Down
DROP TABLE goose_items;
