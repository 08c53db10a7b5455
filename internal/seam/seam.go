// Package seam holds the interfaces by which sqlmocktest and libpq reach
// securepg's connector without a public API: the connector's seam (Of,
// gated by a Key only securepg's packages hold), sqlmocktest's mocks
// (LookupMock) and libpq's backend. A binary that does not link
// sqlmocktest has no path to a test seam.
package seam

import (
	"context"
	"database/sql/driver"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securepg/securepg/internal/core"
)

// Mock stands in for the network: it hands out conns with simulated TLS
// facts, which securepg judges exactly as it judges a real connection.
type Mock interface {
	// Connect returns a conn standing in for target, the DSN's first host.
	Connect(ctx context.Context, target core.Target) (driver.Conn, core.Facts, error)
}

// Key proves that the caller is one of securepg's own packages: only
// they can import this package and call Token.
type Key struct{ _ byte }

var token = new(Key)

// Token is the Key the connector's Seam asks for.
func Token() *Key { return token }

// Gate is implemented by the connector securepg.NewConnector returns:
// Seam(Token()) is what sqlmocktest and libpq reach of it, and nil for
// any other key (a method found by reflection is no way in).
type Gate interface {
	Seam(k *Key) Connector
}

// Of is c's seam, or nil when c is not securepg's connector.
func Of(c driver.Connector) Connector {
	if g, ok := c.(Gate); ok {
		return g.Seam(Token())
	}
	return nil
}

// LookupMock finds the mock that sqlmocktest.Register put in force for a
// DSN, for code that calls sql.Open itself; only sqlmocktest sets it.
var LookupMock func(dsn string) (Mock, bool)

// Backend is the securepg.Option by which package libpq makes the
// connector use lib/pq: Name is the driver name it stands for, Prepare is
// core.Prepare for lib/pq. Being an option, not a registry entry, it
// leaves a program that does not import libpq no lib/pq backend.
type Backend interface {
	Name() string
	Prepare(dsn string, p core.Policy) (core.Backend, core.Plan, error)
}

// Connector is what sqlmocktest and libpq reach of securepg's connector:
// UseMock (before it is shared: its conns come from m, judged as the
// network's), its backend (for lib/pq's listeners), the report of a
// listener's dial, and the notice handler.
type Connector interface {
	UseMock(m Mock)
	Backend() core.Backend
	ReportDial(ctx context.Context, rec *core.Recorder, f core.Facts, err error)
	SetNotice(n *Notice)
	Notice() *Notice
}

// Notice is a notice handler as package libpq sets it: Handler as given
// (a func(*pq.Error)), Pgx for pgx connections' notices, Set to install it
// on a lib/pq connection.
type Notice struct {
	Handler any
	Pgx     func(*pgconn.Notice)
	Set     func(driver.Conn)
}
