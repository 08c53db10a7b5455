package securepg

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
	"github.com/securepg/securepg/internal/telemetry"
)

// DriverName is the name securepg registers with database/sql. Its
// backend is SECUREPG_DRIVER's (pgx by default).
const DriverName = "securepg"

// Driver names that pin the backend whatever SECUREPG_DRIVER says, for
// code written against one backend's types (*pgconn.PgError and
// *stdlib.Conn, or *pq.Error): a deployment variable cannot change them.
const (
	DriverNamePgx = "securepg-pgx"
	DriverNamePQ  = "securepg-pq"
)

func init() {
	sql.Register(DriverName, &drv{})
	sql.Register(DriverNamePgx, &drv{pin: core.DriverPgx})
	sql.Register(DriverNamePQ, &drv{pin: core.DriverPQ})
	// sqlmocktest's way in (package-private: internal/seam).
	seam.WithMock = func(m seam.Mock) any { return withMock(m) }
}

// drv is the registered driver. OpenConnector reads the policy from the
// environment each time, which database/sql does once per sql.Open. A
// connector's Driver is a drv bound to it, so that *sql.DB.Driver leads
// back to the connector (for pool metrics).
type drv struct {
	c   *connector
	pin string // the backend a pinned name forces, or ""
}

var (
	_ driver.Driver        = (*drv)(nil)
	_ driver.DriverContext = (*drv)(nil)
)

// Open connects once; database/sql uses OpenConnector instead.
func (d *drv) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector parses dsn, reads the SECUREPG_* policy, and refuses a DSN
// whose effective configuration is weaker than the policy.
func (d *drv) OpenConnector(dsn string) (driver.Connector, error) {
	var opts []Option
	if d.pin != "" {
		opts = append(opts, set(core.EnvDriver, d.pin, "the driver name "+DriverName+"-"+d.pin))
	}
	cc, err := registered(dsn)
	if err != nil {
		return nil, err
	}
	if cc != nil {
		return newPgxConnector(cc, append(pinPgx(nil), opts...)) // securepg-pq refuses it
	}
	return newConnector(dsn, opts)
}

// PoolName is the connector's default db.client.connection.pool.name
// (host:port/database of the DSN's first host). The otel package finds it
// through *sql.DB.Driver.
func (d *drv) PoolName() string {
	if d.c == nil {
		return ""
	}
	host, port := d.c.firstTarget()
	return telemetry.PoolName(host, port, d.c.db)
}
