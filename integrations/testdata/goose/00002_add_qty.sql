-- +goose Up
ALTER TABLE goose_items ADD COLUMN qty int NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE goose_items DROP COLUMN qty;
