ALTER TABLE migrate_items DROP COLUMN qty;
