package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
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
	policy   core.Policy
	plan     core.Plan
	logger   *slog.Logger
	backend  backend
	tel      *telemetry.T
	hooks    *hookSet
	db       string          // the database name, for telemetry
	reported map[string]bool // reasons audit mode reported when the connector was created
}

var _ driver.Connector = (*connector)(nil)

func newConnector(dsn string, getenv func(string) string, opts []Option) (*connector, error) {
	policy, o, err := resolvePolicy(getenv, opts)
	if err != nil {
		return nil, err
	}
	c := &connector{policy: policy, logger: o.logger, hooks: newHookSet(o.hooks, o.providers, policy.PasswordFile)}
	c.hooks.log = o.logger
	switch policy.Driver {
	case core.DriverPQ:
		var pc *core.PQConfig
		pc, c.plan, err = core.PreparePQ(dsn, policy)
		if err == nil {
			var inner driver.Connector
			inner, err = pc.Connector(context.Background())
			c.backend = &pqBackend{cfg: pc, inner: inner}
		}
	default:
		var pc *core.PgxConfig
		pc, c.plan, err = core.PreparePgx(dsn, policy)
		if err == nil {
			pc.Conn.Tracer = c.pgxTracer()
			c.backend = &pgxBackend{cfg: pc, inner: stdlib.GetConnector(*pc.Conn,
				stdlib.OptionBeforeConnect(pc.BeforeConnect), stdlib.OptionResetSession(pgxResetSession))}
		}
	}
	if err != nil {
		return nil, err
	}
	if m, ok := core.LookupMock(dsn); ok {
		mb := &mockBackend{mock: m, policy: policy}
		if len(c.plan.Targets) > 0 {
			mb.target = c.plan.Targets[0]
		}
		c.backend = mb
	}
	c.db = c.plan.Database
	c.tel = telemetry.New(o.telemetry, policy.Driver, policy.MinSSLMode.String(), c.db)
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
	host, port := c.firstTarget()
	ctx, op := c.tel.ConnectStart(ctx, host, port)
	attempt := c.attempt()
	creds, err := c.hooks.credentials(ctx, attempt)
	if err != nil {
		op.End(ctx, telemetry.ConnectResult{Err: err})
		return nil, err
	}
	if creds != nil {
		ctx = core.WithCredentials(ctx, creds.User, creds.Password)
		if creds.User != "" {
			attempt.User = creds.User
		}
	}
	conn, facts, err := c.backend.connect(ctx, rec)
	if err != nil && creds != nil && isAuthFailure(err) {
		// The server rejected credentials from a source that rotates: tell
		// caching providers, resolve again, and if that gives new
		// credentials, try them once.
		c.hooks.authFailed(ctx, attempt)
		if fresh, ferr := c.hooks.credentials(ctx, attempt); ferr == nil && fresh != nil &&
			(fresh.Password != creds.Password || fresh.User != creds.User) {
			creds = fresh
			ctx = core.WithCredentials(ctx, creds.User, creds.Password)
			if creds.User != "" {
				attempt.User = creds.User
			}
			conn, facts, err = c.backend.connect(ctx, rec)
		}
	}
	audited := rec.Violations()
	for _, v := range audited {
		if !c.reported[v.Reason] { // the configuration's own were reported at creation
			c.reportAudit(ctx, v)
		}
	}
	if err != nil {
		v, err := c.connectError(ctx, err, rec)
		op.End(ctx, telemetry.ConnectResult{Facts: facts, Err: err, Violation: v, Audited: audited})
		return nil, err
	}
	if err := c.hooks.afterConnect(ctx, connInfo(facts, attempt)); err != nil {
		conn.Close()
		op.End(ctx, telemetry.ConnectResult{Facts: facts, Err: err, Audited: audited})
		return nil, err
	}
	// Violations of the configuration that audit mode let through apply
	// to every connection it makes; the live checks find them again.
	if c.policy.Audit {
		all := core.Evaluate(c.plan, c.policy)
		for _, v := range audited {
			if !c.reported[v.Reason] {
				all = append(all, v)
			}
		}
		audited = all
	}
	op.End(ctx, telemetry.ConnectResult{Facts: facts, Audited: audited})
	obs := c.tel.NewConn(facts.Host, int(facts.Port))
	var recycle time.Time
	if creds != nil {
		recycle = recycleAt(creds.Expires, time.Now())
	}
	if c.backend.native() {
		custom := conn.(*stdlib.Conn).Conn().PgConn().CustomData()
		custom[factsKey] = facts
		custom[telemetry.ConnKey] = obs
		if c.hooks.query {
			custom[hooksKey] = c.hooks
		}
		if !recycle.IsZero() {
			custom[expiresKey] = recycle
		}
		return conn, nil
	}
	w := &wconn{facts: facts, obs: obs, recycle: recycle}
	if c.hooks.query {
		w.hooks = c.hooks
	}
	return w.wrap(conn), nil
}

// attempt is the redacted view of the next connection for hooks.
func (c *connector) attempt() hooks.Attempt {
	a := hooks.Attempt{Driver: c.policy.Driver, Database: c.plan.Database, User: c.plan.User}
	if len(c.plan.Targets) > 0 {
		t := c.plan.Targets[0]
		a.Host, a.Port, a.SSLMode = t.Host, int(t.Port), t.Mode.String()
	}
	return a
}

func (c *connector) firstTarget() (string, int) {
	if len(c.plan.Targets) == 0 {
		return "", 0
	}
	t := c.plan.Targets[0]
	return t.Host, int(t.Port)
}

// connectError turns a failed attempt into a *PolicyError when the policy
// caused it, and never returns driver.ErrBadConn (database/sql would retry).
func (c *connector) connectError(ctx context.Context, err error, rec *core.Recorder) (*core.Violation, error) {
	if v := core.ClassifyConnectError(err, rec.LastDial(), c.policy); v != nil {
		c.reportRefusal(ctx, v)
		return v, newPolicyError(v, 0)
	}
	if errors.Is(err, driver.ErrBadConn) {
		return nil, fmt.Errorf("securepg: connect failed: %s", err.Error())
	}
	return nil, err
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

// Driver returns the securepg driver, bound to this connector.
func (c *connector) Driver() driver.Driver { return &drv{c: c} }

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

// reportRefusal logs a refusal at error level and tells the OnViolation hooks.
func (c *connector) reportRefusal(ctx context.Context, v *core.Violation) {
	c.log().LogAttrs(ctx, slog.LevelError, "securepg: connection refused by policy", violationAttrs(v, c.policy)...)
	c.hooks.onViolation(ctx, c.log(), v, telemetry.OutcomeRefused)
}

// reportAudit logs a violation that audit mode lets through at warn level
// and tells the OnViolation hooks.
func (c *connector) reportAudit(ctx context.Context, v *core.Violation) {
	c.log().LogAttrs(ctx, slog.LevelWarn, "securepg: policy violation allowed by audit mode", violationAttrs(v, c.policy)...)
	c.hooks.onViolation(ctx, c.log(), v, telemetry.OutcomeAudited)
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
