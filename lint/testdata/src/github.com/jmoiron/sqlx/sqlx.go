// Package sqlx is a stub of sqlx: the names the analyzer matches, with
// their signatures.
package sqlx

import "context"

type DB struct{}

func Open(driverName, dataSourceName string) (*DB, error) { return nil, nil }

func MustOpen(driverName, dataSourceName string) *DB { return nil }

func Connect(driverName, dataSourceName string) (*DB, error) { return nil, nil }

func MustConnect(driverName, dataSourceName string) *DB { return nil }

func ConnectContext(ctx context.Context, driverName, dataSourceName string) (*DB, error) {
	return nil, nil
}
