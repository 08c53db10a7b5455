package securepg

import (
	"cmp"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"net"
	"reflect"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// OpenDB opens a *sql.DB on a pgx configuration built in code, with the
// same policy, validation, credentials, hooks and telemetry as
// sql.Open("securepg", dsn); a *PolicyError is returned before anything is
// dialed. cc is not changed, and its own hooks (DialFunc, LookupFunc,
// AfterNetConnect, ValidateConnect, OnNotice, Tracer) run as with pgx
// alone, except that AfterConnect runs only on a session securepg has
// judged (never on one SECUREPG_FORBID_SUPERUSER refuses).
func OpenDB(cc *pgx.ConnConfig, opts ...Option) (*sql.DB, error) {
	c, err := newPgxConnector(cc, pinPgx(opts))
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// ConfigurePgx applies securepg to a pgx configuration that code connects
// with directly (pgx.ConnectConfig): cc is judged now (a *PolicyError
// before anything is dialed), and every connection made with it is
// validated as database/sql's are, with credentials, hooks and telemetry.
// cc's Tracer, AfterConnect, DialFunc, LookupFunc and OnNotice keep
// running. A refusal while connecting is pgx's error wrapping a
// *PolicyError. It fails closed: set cc's Tracer before, and change no
// host or TLS setting after; a refused cc returns the refusal from every
// connect, so code that only logs the error cannot go on in plaintext.
func ConfigurePgx(cc *pgx.ConnConfig, opts ...Option) error {
	if cc == nil {
		return errors.New("securepg: a nil *pgx.ConnConfig")
	}
	if configured(cc.Tracer) {
		return errors.New("securepg: the configuration was already configured by securepg; configure one parsed anew (pgx.ParseConfig, pgxpool.ParseConfig)")
	}
	own := cc.Tracer
	c, err := newPgxConnector(cc, append(pinPgx(opts), optionFunc(func(o *options) { o.native = true })))
	if err != nil {
		refuse(cc, err)
		return err
	}
	pc := c.backend.(*core.PgxConfig)
	h := pc.Conn
	// cc gets its own fallbacks: samePlan compares them with the judged
	// ones, which an edit in place (cc.Fallbacks[i].Host = ...) must not
	// reach.
	fbs := make([]*pgconn.FallbackConfig, len(h.Fallbacks))
	for i, fb := range h.Fallbacks {
		c := *fb
		fbs[i] = &c
	}
	cc.Host, cc.Port, cc.TLSConfig, cc.Fallbacks = h.Host, h.Port, h.TLSConfig, fbs
	cc.ConnectTimeout, cc.RuntimeParams = h.ConnectTimeout, h.RuntimeParams
	// pgx hands securepg each connect through the Tracer. Should it be
	// replaced, nothing is dialed (the guard refuses what securepg's hooks
	// did not dial), and the hardened TLS settings refuse every server.
	cc.DialFunc = core.GuardDial(cc.DialFunc)
	n := &native{QueryTracer: h.Tracer, c: c, pc: pc}
	cc.Tracer = n
	_, acquires := own.(pgxpool.AcquireTracer)
	_, releases := own.(pgxpool.ReleaseTracer)
	a, aok := h.Tracer.(pgxpool.AcquireTracer) // the multitracer holding own
	r, rok := h.Tracer.(pgxpool.ReleaseTracer)
	if (acquires || releases) && aok && rok {
		cc.Tracer = &pooled{native: n, acquire: a, release: r}
	}
	return nil
}

// ConfigurePool is ConfigurePgx for a pgxpool configuration (pgxpool's
// BeforeConnect and AfterConnect keep running). Pool metrics:
// otel.RegisterPoolStats.
func ConfigurePool(pc *pgxpool.Config, opts ...Option) error {
	if pc == nil {
		return errors.New("securepg: a nil *pgxpool.Config")
	}
	err := ConfigurePgx(pc.ConnConfig, opts...)
	if err != nil && pc.ConnConfig != nil && !configured(pc.ConnConfig.Tracer) {
		pc.BeforeConnect = func(context.Context, *pgx.ConnConfig) error { return err }
	}
	return err
}

// refuse leaves a refused cc unable to connect: every step of a connect
// fails with err, even should code put its own dialer back.
func refuse(cc *pgx.ConnConfig, err error) {
	cc.LookupFunc = func(context.Context, string) ([]string, error) { return nil, err }
	failDial(cc, err)
	cc.Fallbacks = nil
	cc.TLSConfig = &tls.Config{
		MinVersion:       tls.VersionTLS13,
		VerifyConnection: func(tls.ConnectionState) error { return err },
	}
	cc.AfterNetConnect = func(_ context.Context, _ *pgconn.Config, c net.Conn) (net.Conn, error) { return c, err } // pgx closes it
	cc.ValidateConnect = func(context.Context, *pgconn.PgConn) error { return err }
	cc.AfterConnect = func(context.Context, *pgconn.PgConn) error { return err }
}

// configured reports whether t is securepg's tracer, or a multitracer
// holding it.
func configured(t pgx.QueryTracer) bool {
	switch t := t.(type) {
	case *native, *pooled:
		return true
	case *multitracer.Tracer:
		return slices.ContainsFunc(t.QueryTracers, configured)
	}
	return false
}

// pinPgx makes the pgx backend the one used.
func pinPgx(opts []Option) []Option {
	return append([]Option{set(core.SettingDriver, core.DriverPgx, "a *pgx.ConnConfig")}, opts...)
}

// native is securepg on a configuration pgx connects with itself: it
// installs its hooks on pgx's copy of the configuration in
// TraceConnectStart, before anything is dialed, judges the connection in
// AfterConnect, and reports in TraceConnectEnd.
type native struct {
	pgx.QueryTracer // securepg's query tracing and the configuration's own tracer
	c               *connector
	pc              *core.PgxConfig
}

type nativeKey struct{}

// nativeConnect is the state of one connect.
type nativeConnect struct {
	rec  *core.Recorder
	op   telemetry.ConnectOp
	used *usedCreds
	done bool // AfterConnect ended the span
	err  error

	after func(context.Context, *pgconn.PgConn) error // the configuration's own AfterConnect
}

func (n *native) TraceConnectStart(ctx context.Context, data pgx.TraceConnectStartData) context.Context {
	if t, ok := n.QueryTracer.(pgx.ConnectTracer); ok {
		ctx = t.TraceConnectStart(ctx, data)
	}
	st := &nativeConnect{rec: core.NewRecorder(), used: &usedCreds{}}
	host, port := n.c.firstTarget()
	ctx, st.op = n.c.tel.ConnectStart(ctx, host, port)
	ctx = core.WithConnectState(ctx, &core.ConnectState{Rec: st.rec, Creds: n.c.credsFunc(st.used)})
	if !samePlan(data.ConnConfig, n.pc.Conn) {
		st.err = core.Unvalidated(n.c.policy, "the configuration's hosts or TLS settings changed after ConfigurePgx judged them; call ConfigurePgx again")
		failDial(data.ConnConfig, st.err)
	} else if err := n.pc.BeforeConnect(ctx, data.ConnConfig); err != nil {
		st.err = err
		failDial(data.ConnConfig, err)
	}
	// securepg judges first; then the copy's AfterConnect (which pgxpool's
	// BeforeConnect may have changed) runs.
	st.after = data.ConnConfig.AfterConnect
	data.ConnConfig.AfterConnect = n.afterConnect
	return context.WithValue(ctx, nativeKey{}, st)
}

// samePlan reports whether cc still has the hosts, ports and TLS attempts
// that were judged (h): nothing is dialed otherwise.
func samePlan(cc, h *pgx.ConnConfig) bool {
	return cc.Host == h.Host && cc.Port == h.Port && sameTLS(cc.TLSConfig, h.TLSConfig) &&
		slices.EqualFunc(cc.Fallbacks, h.Fallbacks, func(a, b *pgconn.FallbackConfig) bool {
			return a.Host == b.Host && a.Port == b.Port && sameTLS(a.TLSConfig, b.TLSConfig)
		})
}

// sameTLS says whether a is b or pgx's clone of it: securepg's hardened
// configuration carries its own VerifyConnection.
func sameTLS(a, b *tls.Config) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.VerifyConnection != nil && reflect.ValueOf(a.VerifyConnection).Pointer() == reflect.ValueOf(b.VerifyConnection).Pointer()
}

// failDial makes every dial of cc fail with err.
func failDial(cc *pgx.ConnConfig, err error) {
	cc.DialFunc = func(context.Context, string, string) (net.Conn, error) { return nil, err }
}

func (n *native) afterConnect(ctx context.Context, pgc *pgconn.PgConn) error {
	st, _ := ctx.Value(nativeKey{}).(*nativeConnect)
	if st == nil {
		return core.NewPolicyError(core.Unvalidated(n.c.policy, "pgx connected without securepg's connect hooks"), 0, "")
	}
	facts, audited, err := n.pc.FinishPgConn(ctx, pgc, st.rec)
	st.done = true
	rejected, live, err := n.c.outcome(ctx, st.op, st.rec, facts, audited, err)
	if err != nil {
		return err
	}
	obs, recycle, err := n.c.accept(ctx, st.op, st.rec, st.used, facts, rejected, live)
	if err != nil {
		return err
	}
	setConnData(pgc, obs, recycle)
	if st.after != nil {
		return st.after(ctx, pgc)
	}
	return nil
}

func (n *native) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	if st, _ := ctx.Value(nativeKey{}).(*nativeConnect); st != nil && !st.done {
		// Failed before securepg could judge the connection.
		err := cmp.Or(st.err, data.Err)
		if err == nil {
			err = core.Unvalidated(n.c.policy, "the connection was not validated by securepg")
		}
		if last, rejected := st.rec.RejectedCredentials(); rejected {
			if old, ok := st.used.get(last); ok && old != nil {
				n.c.hooks.authFailed(ctx, n.c.attempt(last))
			}
		}
		n.c.outcome(ctx, st.op, st.rec, core.Facts{}, nil, err)
	}
	if t, ok := n.QueryTracer.(pgx.ConnectTracer); ok {
		t.TraceConnectEnd(ctx, data)
	}
}

// The other tracers pgx looks for go to the configuration's tracer, if it
// has them.

func (n *native) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if t, ok := n.QueryTracer.(pgx.BatchTracer); ok {
		return t.TraceBatchStart(ctx, conn, data)
	}
	return ctx
}

func (n *native) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if t, ok := n.QueryTracer.(pgx.BatchTracer); ok {
		t.TraceBatchQuery(ctx, conn, data)
	}
}

func (n *native) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	if t, ok := n.QueryTracer.(pgx.BatchTracer); ok {
		t.TraceBatchEnd(ctx, conn, data)
	}
}

func (n *native) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	if t, ok := n.QueryTracer.(pgx.CopyFromTracer); ok {
		return t.TraceCopyFromStart(ctx, conn, data)
	}
	return ctx
}

func (n *native) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	if t, ok := n.QueryTracer.(pgx.CopyFromTracer); ok {
		t.TraceCopyFromEnd(ctx, conn, data)
	}
}

func (n *native) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if t, ok := n.QueryTracer.(pgx.PrepareTracer); ok {
		return t.TracePrepareStart(ctx, conn, data)
	}
	return ctx
}

func (n *native) TracePrepareEnd(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareEndData) {
	if t, ok := n.QueryTracer.(pgx.PrepareTracer); ok {
		t.TracePrepareEnd(ctx, conn, data)
	}
}

// pooled is native for a configuration whose own tracer follows pgxpool's
// acquires or releases, which pgxpool looks for on ConnConfig.Tracer when
// the pool is made: only such a configuration gets these methods, so no
// other pool pays for them on every Acquire and Release.
type pooled struct {
	*native
	acquire pgxpool.AcquireTracer
	release pgxpool.ReleaseTracer
}

func (p *pooled) TraceAcquireStart(ctx context.Context, pool *pgxpool.Pool, data pgxpool.TraceAcquireStartData) context.Context {
	return p.acquire.TraceAcquireStart(ctx, pool, data)
}

func (p *pooled) TraceAcquireEnd(ctx context.Context, pool *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	p.acquire.TraceAcquireEnd(ctx, pool, data)
}

func (p *pooled) TraceRelease(pool *pgxpool.Pool, data pgxpool.TraceReleaseData) {
	p.release.TraceRelease(pool, data)
}
