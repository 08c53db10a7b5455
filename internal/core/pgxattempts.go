package core

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// ConnectState is what one Connect call hands to pgx's BeforeConnect
// through the context: where to record, and how to resolve credentials.
type ConnectState struct {
	Rec   *Recorder
	Creds CredsFunc

	// finish, set by PgxConfig.Connect: the session is judged in pgx's
	// AfterConnect, before the configuration's own AfterConnect runs SQL.
	finish *finishResult
}

// finishResult is FinishPgConn's verdict, reached inside pgx's connect.
type finishResult struct {
	done    bool
	facts   Facts
	audited []*Violation
	err     error
}

type connectStateKey struct{}

// WithConnectState returns ctx carrying st.
func WithConnectState(ctx context.Context, st *ConnectState) context.Context {
	return context.WithValue(ctx, connectStateKey{}, st)
}

// BeforeConnect installs securepg's hooks on one Connect call's copy of
// the configuration. It has the signature of stdlib.OptionBeforeConnect.
func (c *PgxConfig) BeforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	st, _ := ctx.Value(connectStateKey{}).(*ConnectState)
	if st == nil {
		st = &ConnectState{}
	}
	if st.Rec == nil {
		st.Rec = NewRecorder()
	}
	a := &pgxAttempts{c: c, st: st, user: cc.User, password: cc.Password,
		channelBinding: cc.ChannelBinding, requireAuth: cc.RequireAuth}
	st.Rec.mu.Lock()
	st.Rec.pgx = a
	st.Rec.mu.Unlock()

	cc.TLSConfig = a.bind(cc.TLSConfig, 0)
	fbs := make([]*pgconn.FallbackConfig, len(cc.Fallbacks))
	for i, fb := range cc.Fallbacks {
		fbs[i] = &pgconn.FallbackConfig{Host: fb.Host, Port: fb.Port, TLSConfig: a.bind(fb.TLSConfig, i+1)}
	}
	cc.Fallbacks = fbs
	a.hosts = append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port}}, fbs...)

	if fr := st.finish; fr != nil {
		own := cc.AfterConnect
		cc.AfterConnect = func(ctx context.Context, pgc *pgconn.PgConn) error {
			fr.facts, fr.audited, fr.err = c.FinishPgConn(ctx, pgc, st.Rec)
			fr.done = true
			if fr.err != nil || own == nil {
				return fr.err
			}
			return own(ctx, pgc)
		}
	}
	lookup, dial, after, validate, build := cc.LookupFunc, cc.DialFunc, cc.AfterNetConnect, cc.ValidateConnect, cc.BuildFrontend
	direct := cc.SSLNegotiation == "direct"
	cc.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		if cur := a.cur; cur != nil && cur.watch != nil && !cur.watching {
			cur.watching = true
			rw := authRW{r, w, cur.watch}
			return build(rw, rw)
		}
		return build(r, w)
	}
	cc.LookupFunc = func(ctx context.Context, host string) ([]string, error) {
		addrs, err := lookup(ctx, host)
		a.lookups = append(a.lookups, lookupResult{host: host, addrs: addrs})
		return addrs, err
	}
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if a.connected.Load() {
			return a.dialCancel(ctx, dial, network, addr)
		}
		return a.dial(ctx, dial, direct, network, addr)
	}
	cc.AfterNetConnect = func(ctx context.Context, cfg *pgconn.Config, conn net.Conn) (net.Conn, error) {
		conn, err := a.afterNetConnect(ctx, cfg, conn)
		if err != nil || after == nil {
			return conn, err
		}
		conn, err = after(ctx, cfg, conn)
		if a.cur != nil {
			a.cur.conn = conn
		}
		return conn, err
	}
	cc.ValidateConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
		return a.validate(ctx, validate, pc)
	}
	return nil
}

// pgxAttempts follows one pgx Connect call, on its goroutine, attempt by
// attempt. pgx resolves every host (LookupFunc), then dials the addresses
// in order, plus once for prefer-standby's fallback; each dial is mapped
// to its host and checked, so a change in pgx's order fails closed.
type pgxAttempts struct {
	c              *PgxConfig
	st             *ConnectState
	user, password string // the configured credentials

	channelBinding, requireAuth string // what each attempt starts from (pgx shares one configuration)

	hosts    []*pgconn.FallbackConfig
	lookups  []lookupResult
	slots    []slot
	dials    int
	cur      *pgxAttempt
	accepted []*pgxAttempt

	notPreferred *pgxAttempt
	connected    atomic.Bool // Finish found the connection: later dials are cancellations
	live         *pgxAttempt // the attempt Finish found, set before connected
}

type lookupResult struct {
	host  string
	addrs []string
}

type slot struct {
	fallback         int
	network, address string
}

type pgxAttempt struct {
	fallback int
	entry    *pgxEntry
	address  string
	facts    Facts // the verified handshake (TLS attempts)
	verified bool
	audited  []*Violation
	conn     net.Conn // the connection pgx uses, once accepted
	rejected bool
	creds    *Creds // the host's, resolved before the dial

	netAudited []*Violation // the dialed address's, let through by audit mode
	loopback   bool         // the address dialed and the peer are loopback

	watch    *authWatch // follows the authentication
	watching bool       // the watch is on pgx's frontend

	role *RoleFacts // asked before the configuration's ValidateConnect, reused by FinishPgConn
}

var errOutOfSequence = errors.New("securepg: pgx connected in an order securepg did not expect; refusing rather than guessing which host this is")

// plan lays out the dials pgx will make, once every host is resolved.
func (a *pgxAttempts) plan() error {
	j := 0
	for i, fb := range a.hosts {
		if network, address := pgconn.NetworkAddress(fb.Host, fb.Port); network == "unix" {
			a.slots = append(a.slots, slot{i, network, address})
			continue
		}
		if j >= len(a.lookups) || a.lookups[j].host != fb.Host {
			return errOutOfSequence
		}
		for _, ip := range a.lookups[j].addrs {
			network, address := pgconn.NetworkAddress(ip, fb.Port)
			if h, p, err := net.SplitHostPort(ip); err == nil {
				port, err := strconv.ParseUint(p, 10, 16)
				if err != nil {
					return errOutOfSequence
				}
				network, address = pgconn.NetworkAddress(h, uint16(port))
			}
			a.slots = append(a.slots, slot{i, network, address})
		}
		j++
	}
	return nil
}

// next maps a dial to its attempt.
func (a *pgxAttempts) next(network, address string) (*pgxAttempt, error) {
	if a.slots == nil {
		if err := a.plan(); err != nil {
			return nil, err
		}
	}
	k := a.dials
	a.dials++
	var s slot
	switch {
	case k < len(a.slots):
		s = a.slots[k]
	case a.notPreferred != nil:
		s = slot{a.notPreferred.fallback, network, a.notPreferred.address}
	default:
		return nil, errOutOfSequence
	}
	if s.network != network || s.address != address {
		return nil, errOutOfSequence
	}
	e := &a.c.entries[s.fallback]
	a.cur = &pgxAttempt{fallback: s.fallback, entry: e, address: address}
	a.st.Rec.Attempt(e.target)
	return a.cur, nil
}

func (a *pgxAttempts) reject(cur *pgxAttempt, v *Violation) {
	if cur != nil && !cur.rejected {
		cur.rejected = true
		a.st.Rec.reject(v)
	}
}

// bind gives one Connect call its own clone of a fallback's TLS template,
// whose VerifyConnection verifies the server and judges the handshake
// before any PostgreSQL byte is exchanged.
func (a *pgxAttempts) bind(tmpl *tls.Config, i int) *tls.Config {
	if tmpl == nil {
		return nil
	}
	tc := tmpl.Clone()
	// What the client offers is securepg's again, whatever was tuned on
	// the template since it was judged (code changing cc.TLSConfig after
	// ConfigurePgx, a pool's BeforeConnect on its copy).
	if i < len(a.c.entries) {
		tc.MinVersion = max(tc.MinVersion, a.c.entries[i].target.MinTLS)
	}
	restrictGroups(tc, a.c.policy.OffersOnlyHybrid())
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		cur := a.cur
		if cur == nil || cur.fallback != i || cur.entry.auth == nil {
			return errOutOfSequence
		}
		f := a.facts(cur).withHandshake(cur.entry.auth.observe(context.Background(), cs))
		if refusal, _ := Pass(a.c.policy, Check{Stage: StageHandshake, Facts: f}); refusal != nil {
			a.reject(cur, refusal)
			return refusal
		}
		cur.facts, cur.verified = f, true
		return nil
	}
	return tc
}

func (a *pgxAttempts) facts(cur *pgxAttempt) Facts {
	t := cur.entry.target
	return Facts{Network: t.Network, Host: t.Host, Port: t.Port, Mode: t.Mode, ModeFrom: t.ModeFrom, MinTLS: t.MinTLS, Loopback: cur.loopback}
}

// afterNetConnect completes the TLS handshake (crypto/tls would do it on
// the startup message), judges the attempt, and gives it its host's
// credentials. On failure pgx closes conn and tries its next attempt.
func (a *pgxAttempts) afterNetConnect(ctx context.Context, cfg *pgconn.Config, conn net.Conn) (net.Conn, error) {
	cur := a.cur
	if cur == nil {
		return conn, errOutOfSequence
	}
	f, err := a.handshake(ctx, cfg, conn, cur)
	if err != nil {
		return conn, err
	}
	refusal, audited := Pass(a.c.policy, Check{Stage: StageHandshake, Facts: f})
	if refusal != nil {
		a.reject(cur, refusal)
		return conn, refusal
	}
	f.LoopbackPlaintext = LoopbackPlaintext(a.c.policy, f)
	a.credentials(cfg, cur, f)
	w, aud, err := a.watchAuth(cfg, cur, f)
	if err != nil {
		return conn, err
	}
	cur.watch = w
	cur.facts, cur.audited, cur.conn = f, append(cur.netAudited, append(audited, aud...)...), conn
	a.accepted = append(a.accepted, cur)
	return conn, nil
}

// FinishPgConn identifies the attempt whose connection pgx handed back, and
// returns its facts and the violations audit mode let through.
func (c *PgxConfig) FinishPgConn(ctx context.Context, pc *pgconn.PgConn, rec *Recorder) (Facts, []*Violation, error) {
	rec.mu.Lock()
	a := rec.pgx
	rec.mu.Unlock()
	if at := a.acceptedFor(pc); at != nil {
		a.live = at
		a.connected.Store(true)
		// Judged (or refused and closed): the connection's bytes are
		// no longer bounded by the watch.
		defer at.watch.release()
		return c.judgeSession(ctx, pc, at, rec)
	}
	return Facts{}, nil, NotValidated("", c.policy, "unvalidated connection", "the connection was not validated by securepg")
}

// acceptedFor is the accepted attempt whose connection pc is, or nil.
func (a *pgxAttempts) acceptedFor(pc *pgconn.PgConn) *pgxAttempt {
	if a == nil {
		return nil
	}
	live := pc.Conn()
	for _, at := range a.accepted {
		if at.conn == live {
			return at
		}
	}
	return nil
}

// judgeSession is the session stage of attempt at, on pc: the role is
// asked once (before the configuration's ValidateConnect, or here).
func (c *PgxConfig) judgeSession(ctx context.Context, pc *pgconn.PgConn, at *pgxAttempt, rec *Recorder) (Facts, []*Violation, error) {
	f := at.facts
	f.Auth, f.ChannelBinding = at.watch.result()
	f.Superuser = pc.ParameterStatus("is_superuser")
	if at.role == nil && AskRole(c.policy, f) {
		role, err := askRolePgConn(ctx, pc)
		if err != nil {
			return f, nil, err
		}
		at.role = role
	}
	f.Role = at.role
	refusal, audited := Pass(c.policy, Check{Stage: StageSession, Facts: f})
	if refusal != nil {
		rec.reject(refusal)
		return f, nil, refusal
	}
	return f, append(at.audited, audited...), nil
}
