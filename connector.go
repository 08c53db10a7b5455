package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
	"github.com/securepg/securepg/internal/telemetry"
)

// NewConnector returns a connector for sql.OpenDB, under the SECUREPG_*
// policy overridden by opts. It returns a *PolicyError, before anything is
// dialed, when dsn's effective configuration (with the PG* environment,
// service file and defaults) is weaker than the policy.
func NewConnector(dsn string, opts ...Option) (driver.Connector, error) {
	c, err := newConnector(dsn, opts)
	if err != nil {
		return nil, err // not a nil *connector in a non-nil interface
	}
	return c, nil
}

type connector struct {
	policy  core.Policy
	plan    core.Plan
	logger  *slog.Logger
	backend core.Backend
	tel     *telemetry.T
	hooks   *hookSet
	db      string            // the database name, for telemetry
	audited []*core.Violation // the configuration's violations, let through by audit mode
	limit   logLimiter        // one log line per violation per minute
	secrets []string          // the DSN's secrets, redacted from connect errors
	native  bool              // ConfigurePgx's: pgx's own API runs the statements

	notice atomic.Pointer[seam.Notice] // libpq.ConnectorWithNoticeHandler's
}

var _ driver.Connector = (*connector)(nil)

func newConnector(dsn string, opts []Option) (*connector, error) {
	secrets := func() []string { return core.ErrorSecrets(dsn, "") }
	return buildConnector(opts, dsn, secrets, func(p core.Policy, pq seam.Backend) (core.Backend, core.Plan, error) {
		if p.Driver != core.DriverPQ {
			return core.Prepare(dsn, p)
		}
		if pq == nil {
			return nil, core.Plan{}, errNoPQ
		}
		return pq.Prepare(dsn, p)
	})
}

// newPgxConnector is newConnector for a pgx configuration built in code.
func newPgxConnector(cc *pgx.ConnConfig, opts []Option) (*connector, error) {
	secrets := func() []string { return core.ErrorSecrets(cc.ConnString(), cc.Password) }
	return buildConnector(opts, "", secrets, func(p core.Policy, _ seam.Backend) (core.Backend, core.Plan, error) {
		if p.Driver != core.DriverPgx {
			return nil, core.Plan{}, fmt.Errorf("securepg: a *pgx.ConnConfig needs the pgx backend, and %s chooses lib/pq (%s)", p.Sources[core.SettingDriver], core.NamePQ)
		}
		return core.PreparePgxConfig(cc, p)
	})
}

// buildConnector resolves the policy, prepares the backend (from a DSN,
// or from a pgx configuration) and judges its plan; secrets are what
// connect errors must not show.
func buildConnector(opts []Option, dsn string, secrets func() []string, prepare func(core.Policy, seam.Backend) (core.Backend, core.Plan, error)) (*connector, error) {
	policy, o, err := resolvePolicy(opts)
	if err != nil {
		return nil, err
	}
	c := &connector{policy: policy, logger: o.logger, hooks: newHookSet(o.hooks, o.providers, policy.PasswordFile), native: o.native}
	c.hooks.log = o.logger
	if c.backend, c.plan, err = c.newBackend(dsn, prepare, o); err != nil {
		return nil, err
	}
	c.db = c.plan.Database
	// A provider's password is judged as if it were in the DSN.
	c.plan.Password = c.plan.Password || len(o.providers) > 0
	c.tel = telemetry.New(o.telemetry, policy.Driver, policy.MinSSLMode.String(), c.db)
	c.tel.SetConnect(c.plan.ConnectTimeout, c.plan.AppName)
	if err := c.judge(); err != nil {
		return nil, err
	}
	c.secrets = secrets()
	return c, nil
}

// newBackend prepares the policy's driver, or the mock sqlmocktest.Register
// put in force for dsn, and installs securepg's hooks on it.
func (c *connector) newBackend(dsn string, prepare func(core.Policy, seam.Backend) (core.Backend, core.Plan, error), o options) (core.Backend, core.Plan, error) {
	b, plan, err := prepare(c.policy, o.backend)
	if err != nil {
		return nil, plan, err
	}
	if seam.LookupMock != nil && dsn != "" {
		if m, ok := seam.LookupMock(dsn); ok {
			return newMockBackend(m, c.policy, plan), plan, nil
		}
	}
	if pc, ok := b.(interface{ SetServerView(always bool) }); ok {
		// lib/pq: the server's view (one query) only when something reads
		// it: a recording connect span, an AfterConnect hook, WithServerView.
		pc.SetServerView(o.serverView || c.hooks.after)
	}
	if pc, ok := b.(*core.PgxConfig); ok {
		// securepg's query tracing, beside the configuration's own tracer.
		if inner := pc.Conn.Tracer; inner != nil {
			pc.Conn.Tracer = multitracer.New(c.pgxTracer(), inner)
		} else {
			pc.Conn.Tracer = c.pgxTracer()
		}
		pc.ResetSession = pgxResetSession
		// ConnectorWithNoticeHandler's handler, beside the configuration's.
		inner := pc.Conn.OnNotice
		pc.Conn.OnNotice = func(pgc *pgconn.PgConn, n *pgconn.Notice) {
			if inner != nil {
				inner(pgc, n)
			}
			if h := c.notice.Load(); h != nil && h.Pgx != nil {
				h.Pgx(n)
			}
		}
	}
	return b, plan, nil
}

// Connect opens one physical connection and validates it before handing it
// to database/sql. With pgx it returns pgx's own *stdlib.Conn.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if calledByPQNoticeConnector() {
		return nil, errPQNoticeConnector
	}
	rec := core.NewRecorder()
	host, port := c.firstTarget()
	ctx, op := c.tel.ConnectStart(ctx, host, port)
	used := &usedCreds{}
	conn, facts, audited, err := c.backend.Connect(ctx, c.credsFunc(used), rec)
	if last, rejected := rec.RejectedCredentials(); err != nil && rejected {
		// The server rejected a provider's credentials: tell caching
		// providers, and try fresh ones once. Only for a server that asked
		// for them and got them: a peer failing a login it never asked
		// for must not make a provider drop its cache.
		if old, ok := used.get(last); ok && old != nil {
			a := c.attempt(last)
			c.hooks.authFailed(ctx, a)
			if fresh, ferr := c.hooks.credentials(ctx, a); ferr == nil && fresh != nil &&
				(fresh.Password != old.Password || fresh.User != old.User) {
				used = &usedCreds{m: map[string]*hooks.Credentials{credsKey(last): fresh}}
				conn, facts, audited, err = c.backend.Connect(ctx, c.credsFunc(used), rec)
			}
		}
	}
	rejected, live, err := c.outcome(ctx, op, rec, facts, audited, err)
	if err != nil {
		return nil, err
	}
	obs, recycle, err := c.accept(ctx, op, rec, used, facts, rejected, live)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if h := c.notice.Load(); h != nil && h.Set != nil && c.policy.Driver == core.DriverPQ {
		h.Set(conn)
	}
	if sc, ok := conn.(*stdlib.Conn); ok {
		setConnData(sc.Conn().PgConn(), obs, recycle)
		return conn, nil
	}
	var hs *hookSet
	if c.hooks.query {
		hs = c.hooks
	}
	return wrapConn(conn, obs, hs, recycle), nil
}

// outcome reports one connect to the logs and OnViolation hooks: every
// refused attempt, even when another host then succeeded (a man in the
// middle on one address must not go unnoticed), and the live violations
// audit mode let through. A failed connect also ends op (accept ends a
// successful one). It returns the refusals that did not fail the connect,
// the live violations, and the caller's error (a *PolicyError when the
// policy caused it).
func (c *connector) outcome(ctx context.Context, op telemetry.ConnectOp, rec *core.Recorder, facts core.Facts, audited []*core.Violation, err error) (rejected, live []*core.Violation, _ error) {
	var final *core.Violation
	if err != nil {
		final = recorded(core.ClassifyConnectError(err, rec.Last(), c.policy), rec.Rejected())
	}
	for _, v := range rec.Rejected() {
		if v != final {
			rejected = append(rejected, v)
		}
		c.reportRefusal(ctx, v)
	}
	// The configuration's own were reported when the connector was made.
	for _, v := range append(rec.Audited(), audited...) {
		if !slices.ContainsFunc(c.audited, func(a *core.Violation) bool { return a.Reason == v.Reason }) {
			c.reportAudit(ctx, v)
			live = append(live, v)
		}
	}
	if err != nil {
		err = c.connectError(ctx, err, final, rec)
		op.End(ctx, telemetry.ConnectResult{Facts: facts, Err: err, Violation: final, Rejected: rejected, Audited: live})
	}
	return rejected, live, err
}

// accept runs the AfterConnect hooks on a validated connection, ends op,
// and returns the connection's observer and when to recycle it (zero:
// never).
func (c *connector) accept(ctx context.Context, op telemetry.ConnectOp, rec *core.Recorder, used *usedCreds,
	facts core.Facts, rejected, live []*core.Violation) (*telemetry.Conn, time.Time, error) {
	// The host that answered is the one tried last.
	creds, _ := used.get(rec.Last())
	a := c.attempt(rec.Last())
	if creds != nil && creds.User != "" {
		a.User = creds.User
	}
	if err := c.hooks.afterConnect(ctx, connInfo(facts, a)); err != nil {
		op.End(ctx, telemetry.ConnectResult{Facts: facts, Err: err, Rejected: rejected, Audited: live})
		return nil, time.Time{}, err
	}
	// The configuration's audited violations apply to every connection.
	op.End(ctx, telemetry.ConnectResult{Facts: facts, Rejected: rejected, Audited: append(c.audited[:len(c.audited):len(c.audited)], live...)})
	var recycle time.Time
	if creds != nil {
		recycle = recycleAt(creds.Expires, time.Now())
	}
	return c.tel.NewConn(facts.Host, int(facts.Port)), recycle, nil
}

// setConnData keeps a pgx connection's observer and recycle time.
func setConnData(pgc *pgconn.PgConn, obs *telemetry.Conn, recycle time.Time) {
	custom := pgc.CustomData()
	custom[telemetry.ConnKey] = obs
	if !recycle.IsZero() {
		custom[expiresKey] = recycle
	}
}

// recorded returns the recorded refusal behind v, the violation found in
// a failed connect's error: pgx joins every host's error, so the text may
// come from any host while ClassifyConnectError names the last one tried.
// It prefers the same host's refusal, then the latest of the same reason,
// then v itself.
func recorded(v *core.Violation, rejected []*core.Violation) *core.Violation {
	if v == nil || slices.Contains(rejected, v) {
		return v
	}
	same := v
	for _, r := range rejected {
		if r.Reason == v.Reason {
			if r.Host == v.Host {
				return r
			}
			same = r
		}
	}
	return same
}

// attempt is the hooks' view of a connection to t: never a password.
func (c *connector) attempt(t core.Target) hooks.Attempt {
	a := hooks.Attempt{Driver: c.policy.Driver, Database: c.plan.Database, User: c.plan.User,
		Host: t.Host, Port: int(t.Port), SSLMode: t.Mode.String()}
	if a.Host == "" {
		a.Host = t.Hostaddr
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

// connectError is a *PolicyError when the policy caused the failure, else
// err escaped and redacted (core.EscapeError: errors.As still finds the
// driver's error); never driver.ErrBadConn, which database/sql retries.
func (c *connector) connectError(ctx context.Context, err error, v *core.Violation, rec *core.Recorder) error {
	if v != nil {
		if !slices.Contains(rec.Rejected(), v) {
			c.reportRefusal(ctx, v)
		}
		return core.NewPolicyError(v, 0, "")
	}
	err = core.EscapeError(err, c.secrets)
	if errors.Is(err, driver.ErrBadConn) {
		return errors.New("securepg: connect failed: " + err.Error())
	}
	return err
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
