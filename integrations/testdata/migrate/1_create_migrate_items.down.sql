DROP TABLE migrate_items;
