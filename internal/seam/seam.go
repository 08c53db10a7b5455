// Package seam holds the package-private hooks by which sqlmocktest
// reaches securepg's connector, as grpc-go's internal package does: no
// test seam is part of the public API, and none is on a path a binary
// that does not link sqlmocktest can take.
package seam

import (
	"context"
	"database/sql/driver"

	"github.com/securepg/securepg/internal/core"
)

// Mock stands in for the network: it hands out conns with simulated TLS
// facts, which securepg judges exactly as it judges a real connection.
type Mock interface {
	// Connect returns a conn standing in for target, the DSN's first host.
	Connect(ctx context.Context, target core.Target) (driver.Conn, core.Facts, error)
}

// Mockable is implemented by the connector securepg.NewConnector returns:
// UseMock, called before the connector is shared, makes it serve its
// conns from m instead of the network, judged as the network's would be.
type Mockable interface {
	UseMock(m Mock)
}

// LookupMock finds the mock that sqlmocktest.Register put in force for a
// DSN, for code that calls sql.Open itself. It is nil until sqlmocktest
// registers one: a binary that does not link sqlmocktest has no way to
// replace the network.
var LookupMock func(dsn string) (Mock, bool)
