package securepg

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// The names securepg registers with database/sql. The name chooses the
// backend, and with it the types code sees: DriverName is pgx
// (*pgconn.PgError, *stdlib.Conn), DriverNamePQ lib/pq (*pq.Error). No
// variable changes it under existing code.
const (
	DriverName   = "securepg"
	DriverNamePQ = "securepg-pq"
)

func init() {
	sql.Register(DriverName, &drv{pin: core.DriverPgx})
	sql.Register(DriverNamePQ, &drv{pin: core.DriverPQ})
}

// drv is the registered driver. OpenConnector reads the policy from the
// environment each time, which database/sql does once per sql.Open. A
// connector's Driver is a drv bound to it, so that *sql.DB.Driver leads
// back to the connector (for pool metrics).
type drv struct {
	c   *connector
	pin string // the backend the name chooses
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
		opts = append(opts, set(core.SettingDriver, d.pin, "the driver name "+d.name()))
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

// name is the name d is registered under.
func (d *drv) name() string {
	if d.pin == core.DriverPQ {
		return DriverNamePQ
	}
	return DriverName
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
