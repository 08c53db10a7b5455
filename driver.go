package securepg

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// DriverName is the name securepg registers with database/sql: the pgx
// backend (errors are *pgconn.PgError, conns *stdlib.Conn). Package libpq
// registers "securepg-pq", the lib/pq backend (*pq.Error); no variable
// changes the backend under existing code.
const DriverName = "securepg"

func init() {
	sql.Register(DriverName, &drv{})
}

// drv is the registered driver. OpenConnector reads the policy from the
// environment each time, which database/sql does once per sql.Open. A
// connector's Driver is a drv bound to it, so that *sql.DB.Driver leads
// back to the connector (for pool metrics).
type drv struct {
	c *connector
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
	if err := core.PgxRegisteredName(dsn); err != nil {
		return nil, err
	}
	return NewConnector(dsn)
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
