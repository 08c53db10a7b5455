package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/internal/core"
)

// NewConnector returns a connector for sql.OpenDB. The policy comes from
// the SECUREPG_* environment variables, overridden by opts. It returns a
// *PolicyError, before anything is dialed, when the effective
// configuration of dsn (DSN + PG* environment + service file + defaults)
// is weaker than the policy.
func NewConnector(dsn string, opts ...Option) (driver.Connector, error) {
	return newConnector(dsn, nil, opts)
}

type connector struct {
	policy core.Policy
	plan   core.Plan
	logger *slog.Logger

	pgx      *core.PgxConfig
	pgxInner driver.Connector
	pq       *core.PQConfig
	pqInner  driver.Connector
}

var _ driver.Connector = (*connector)(nil)

func newConnector(dsn string, getenv func(string) string, opts []Option) (*connector, error) {
	policy, o, err := resolvePolicy(getenv, opts)
	if err != nil {
		return nil, err
	}
	c := &connector{policy: policy, logger: o.logger}
	switch policy.Driver {
	case core.DriverPQ:
		c.pq, c.plan, err = core.PreparePQ(dsn, policy)
		if err == nil {
			c.pqInner, err = c.pq.Connector()
		}
	default:
		c.pgx, c.plan, err = core.PreparePgx(dsn, policy)
		if err == nil {
			c.pgxInner = stdlib.GetConnector(*c.pgx.Conn, stdlib.OptionBeforeConnect(c.pgx.BeforeConnect))
		}
	}
	if err != nil {
		return nil, err
	}
	if err := c.judge(); err != nil {
		return nil, err
	}
	return c, nil
}

// Connect opens one physical connection and validates it before handing it
// to database/sql. With pgx it returns pgx's own *stdlib.Conn, so code that
// reaches pgx through sql.Conn.Raw keeps working.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	ctx, rec := core.WithRecorder(ctx)
	var (
		conn driver.Conn
		err  error
	)
	if c.pq != nil {
		conn, err = c.pqInner.Connect(ctx)
	} else {
		conn, err = c.pgxInner.Connect(ctx)
	}
	if err != nil {
		return nil, c.connectError(ctx, err, rec)
	}
	var facts core.Facts
	if c.pq != nil {
		facts, err = c.pq.ValidatePQ(ctx, conn, rec)
	} else {
		facts, err = c.pgx.ValidatePgx(conn.(*stdlib.Conn), rec)
	}
	if err != nil {
		conn.Close()
		return nil, c.connectError(ctx, err, rec)
	}
	for _, v := range rec.Violations() {
		c.logAudit(ctx, v)
	}
	if c.pq != nil {
		return pickConn(&wconn{inner: conn, facts: facts}), nil
	}
	conn.(*stdlib.Conn).Conn().PgConn().CustomData()[factsKey] = facts
	return conn, nil
}

// factsKey holds a pgx connection's validated facts in its CustomData.
const factsKey = "securepg.facts"

// connFacts returns what securepg validated about a conn handed out by one
// of its connectors (the value sql.Conn.Raw passes).
func connFacts(dc any) (core.Facts, bool) {
	switch c := dc.(type) {
	case *stdlib.Conn:
		f, ok := c.Conn().PgConn().CustomData()[factsKey].(core.Facts)
		return f, ok
	case interface{ securepgFacts() core.Facts }:
		return c.securepgFacts(), true
	}
	return core.Facts{}, false
}

// connectError turns a failed attempt into a *PolicyError when the policy
// caused it, and never returns driver.ErrBadConn (database/sql would retry).
func (c *connector) connectError(ctx context.Context, err error, rec *core.Recorder) error {
	for _, v := range rec.Violations() {
		c.logAudit(ctx, v)
	}
	if v := core.ClassifyConnectError(err, rec.LastDial(), c.policy); v != nil {
		c.logRefusal(ctx, v)
		return newPolicyError(v, 0)
	}
	if errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("securepg: connect failed: %s", err.Error())
	}
	return err
}

// Driver returns the securepg driver.
func (c *connector) Driver() driver.Driver { return &drv{} }

// String describes the connector without any credential.
func (c *connector) String() string {
	return fmt.Sprintf("securepg.Connector{driver: %s, hosts: %d, min_sslmode: %s, mode: %s}",
		c.policy.Driver, len(c.plan.Targets), c.policy.MinSSLMode, c.policy.ModeName())
}

// GoString keeps %#v from printing the parsed configuration.
func (c *connector) GoString() string { return c.String() }

func (c *connector) log() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

func (c *connector) logRefusal(ctx context.Context, v *core.Violation) {
	c.log().LogAttrs(ctx, slog.LevelError, "securepg: connection refused by policy", violationAttrs(v, c.policy)...)
}

func (c *connector) logAudit(ctx context.Context, v *core.Violation) {
	c.log().LogAttrs(ctx, slog.LevelWarn, "securepg: policy violation allowed by audit mode", violationAttrs(v, c.policy)...)
}

func violationAttrs(v *core.Violation, p core.Policy) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("reason", v.Reason),
		slog.String("host", v.Host),
		slog.String("got", v.Got),
		slog.String("want", v.Want),
		slog.String("mode", p.ModeName()),
		slog.String("driver", p.Driver),
	}
	if v.Err != nil {
		attrs = append(attrs, slog.String("cause", v.Err.Error()))
	}
	return attrs
}
