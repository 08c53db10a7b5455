package core

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// The dial, the handshake and the validation of one pgx attempt, as
// BeforeConnect installs them.

// dialCancel dials a query cancellation (PgConn.CancelRequest) of the
// connection made: no credentials are sent, the TLS handshake is verified
// again, and the address and peer are judged as the connection's were.
func (a *pgxAttempts) dialCancel(ctx context.Context, dial pgconn.DialFunc, network, addr string) (net.Conn, error) {
	t := a.live.entry.target
	if refusal, _, _ := CheckAddress(a.c.policy, t, network, addr); refusal != nil {
		return nil, refusal
	}
	conn, err := dial(boundDial(ctx), network, addr)
	if err == nil {
		if refusal, _ := CheckPeer(a.c.policy, t, conn); refusal != nil {
			conn.Close()
			return nil, refusal
		}
	}
	return conn, err
}

// dial makes the next attempt's connection: address judged and
// credentials resolved before the dial, peer judged before a byte is sent.
func (a *pgxAttempts) dial(ctx context.Context, dial pgconn.DialFunc, direct bool, network, addr string) (net.Conn, error) {
	cur, err := a.next(network, addr)
	if err != nil {
		return nil, err
	}
	refusal, audited, loopback := CheckAddress(a.c.policy, cur.entry.target, network, addr)
	if refusal != nil {
		a.reject(cur, refusal)
		return nil, refusal
	}
	// A provider that refuses (RDS IAM under a weak sslmode) keeps the
	// network quiet.
	if a.st.Creds != nil {
		if cur.creds, err = a.st.Creds(ctx, cur.entry.target); err != nil {
			return nil, err
		}
	}
	conn, err := dial(boundDial(ctx), network, addr)
	if err != nil {
		return conn, err
	}
	// The peer connected to (a DialFunc may dial through a proxy).
	refusal, peerLoopback := CheckPeer(a.c.policy, cur.entry.target, conn)
	if refusal != nil {
		conn.Close()
		a.reject(cur, refusal)
		return nil, refusal
	}
	cur.netAudited, cur.loopback = audited, loopback && peerLoopback
	if cur.entry.auth == nil || direct {
		return conn, err // with direct TLS, no SSLRequest is answered
	}
	return &replyConn{Conn: conn, a: a, cur: cur}, nil
}

// validate runs the configuration's own ValidateConnect
// (target_session_attrs, or code's) after the session stage, so that no
// SQL runs as a role the policy refuses; a refusal fails this host.
func (a *pgxAttempts) validate(ctx context.Context, validate pgconn.ValidateConnectFunc, pc *pgconn.PgConn) error {
	if validate == nil {
		return nil
	}
	if at := a.acceptedFor(pc); at != nil && a.c.policy.ForbidSuperuser {
		if _, _, err := a.c.judgeSession(ctx, pc, at, a.st.Rec); err != nil {
			return err
		}
	}
	err := runValidator(ctx, validate, pc)
	var np *pgconn.NotPreferredError
	if errors.As(err, &np) {
		a.notPreferred = a.cur
	}
	return err
}

// pgconnValidators are pgx's target_session_attrs checks.
var pgconnValidators = []pgconn.ValidateConnectFunc{
	pgconn.ValidateConnectTargetSessionAttrsReadWrite, pgconn.ValidateConnectTargetSessionAttrsReadOnly,
	pgconn.ValidateConnectTargetSessionAttrsStandby, pgconn.ValidateConnectTargetSessionAttrsPrimary,
	pgconn.ValidateConnectTargetSessionAttrsPreferStandby,
}

var errNoSessionAttrs = errors.New("securepg: the server answered target_session_attrs' query without a value (pgx could not read it)")

// runValidator runs validate. pgx's own target_session_attrs checks index
// the first row of their answer unchecked (result[0].Rows[0][0]): a
// peer's answer without one panics inside the connect, where
// database/sql's connection opener goroutine dies with it. That panic
// (after the answer was read whole, so the connection's state is sound)
// is the connect's error instead; a configuration's own ValidateConnect
// is not recovered (its panics are its own).
func runValidator(ctx context.Context, validate pgconn.ValidateConnectFunc, pc *pgconn.PgConn) (err error) {
	p := reflect.ValueOf(validate).Pointer()
	if slices.ContainsFunc(pgconnValidators, func(v pgconn.ValidateConnectFunc) bool { return reflect.ValueOf(v).Pointer() == p }) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(runtime.Error); !ok {
					panic(r)
				}
				err = errNoSessionAttrs
			}
		}()
	}
	return validate(ctx, pc)
}

// handshake completes a TLS attempt's handshake on conn (verified in
// VerifyConnection) and returns the attempt's facts.
func (a *pgxAttempts) handshake(ctx context.Context, cfg *pgconn.Config, conn net.Conn, cur *pgxAttempt) (Facts, error) {
	f := a.facts(cur)
	tc, ok := conn.(*tls.Conn)
	switch {
	case !ok && cur.entry.auth != nil:
		return f, NotValidated(f.Addr(), a.c.policy, "plaintext", "a TLS attempt reached the server without TLS")
	case !ok:
		if f.Network == "tcp" {
			f.Mode = ModeDisable
		}
		return f, nil
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if v := DirectNotSpoken(f.Addr(), a.c.policy, err); v != nil && cfg.SSLNegotiation == "direct" {
			a.reject(cur, v)
			return f, v
		}
		if a.c.policy.OffersOnlyHybrid() && HandshakeRefused(err) {
			// The server agreed on no hybrid group: the policy's
			// refusal, not a bare TLS alert.
			v := NoHybridKeyExchange(f.Addr(), err)
			a.reject(cur, v)
			return f, v
		}
		return f, err
	}
	cs := tc.ConnectionState()
	if !cur.verified || len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0] != cur.facts.PeerCertificates[0] {
		return f, NotValidated(f.Addr(), a.c.policy, "unvalidated handshake", "the TLS handshake was not validated by securepg")
	}
	f = cur.facts
	f.CurveID = cs.CurveID // a TLS 1.2 handshake names its group after the certificate
	return f, nil
}

// credentials sets the user and password pgx sends on this attempt: the
// configuration's, the host's passfile entry, or the provider's.
func (a *pgxAttempts) credentials(cfg *pgconn.Config, cur *pgxAttempt, f Facts) {
	cfg.User, cfg.Password = a.user, a.password
	if pf := a.c.passfile; pf != nil {
		host := f.Host
		if f.Network == "unix" {
			host = "localhost"
		}
		cfg.Password = pf.FindPassword(host, strconv.Itoa(int(f.Port)), cfg.Database, cfg.User)
	}
	if cr := cur.creds; cr != nil {
		if cr.User != "" {
			cfg.User = cr.User
		}
		cfg.Password = cr.Password
	}
}

// watchAuth makes the attempt's authentication watch and applies the
// password protection (pgx's checks and the watch's), returning what
// audit mode let through.
func (a *pgxAttempts) watchAuth(cfg *pgconn.Config, cur *pgxAttempt, f Facts) (*authWatch, []*Violation, error) {
	cfg.ChannelBinding, cfg.RequireAuth = a.channelBinding, a.requireAuth
	t := cur.entry.target
	w := NewAuthWatch(a.c.policy, f.Addr(), t.ClientCert != "")
	// What pgx reads after the startup, inside the connect, is bounded
	// until FinishPgConn has judged the connection (sessionwatch.go).
	w.after = judgeRules()
	w.refuse = func(v *Violation) { a.reject(cur, v) }
	w.rejected = func() { a.st.Rec.CredentialsRejected(t) }
	w.canBind, w.credential, w.grade = true, HasCredential(cfg), a.c.policy.UnverifiedPassword
	if !w.credential || !(cur.entry.auth != nil || LoopbackPlaintext(a.c.policy, f)) || !PasswordProtectedConn(a.c.policy, t, f) {
		return w, nil, nil
	}
	weak := a.c.weakAuth != "" && (w.grade == PasswordBound || weakForSCRAM(a.c.weakAuth))
	switch {
	case weak:
		refusal, aud := Pass(a.c.policy, Check{Stage: StageCredential, Credential: CredentialWeakSetting, Target: t, Facts: f, Setting: a.c.weakAuth})
		if refusal != nil {
			a.reject(cur, refusal)
			return nil, nil, refusal
		}
		return w, aud, nil
	case a.c.policy.Audit:
		w.audit = a.st.Rec.Audit
	default:
		cfg.RequireAuth, w.protect = "scram-sha-256", true
		if w.grade == PasswordBound {
			cfg.ChannelBinding = "require"
		}
	}
	return w, nil, nil
}

type boundKey struct{}

// boundDial marks a dial made through securepg's per-connection hooks.
func boundDial(ctx context.Context) context.Context { return context.WithValue(ctx, boundKey{}, true) }

// unbound refuses a connect on which securepg's per-connection hooks did
// not run (the configuration's Tracer was replaced): nothing is dialed,
// and no TLS handshake completes.
func unbound() *Violation {
	return &Violation{Reason: ReasonTLSNotEstablished, Got: "unvalidated connection", Want: "securepg's connect hooks", Hard: true,
		Detail: "securepg's connect hooks did not run on this connect: the configuration's Tracer was replaced after ConfigurePgx or ConfigurePool",
		Fix:    "set your tracer before calling ConfigurePgx or ConfigurePool (securepg composes with it), or configure a configuration parsed anew"}
}

// HasCredential reports whether pgx would send a credential that a man
// in the middle could use: a password or an OAuth bearer token
// (OAuthTokenProvider, for PostgreSQL 18's OAUTHBEARER).
func HasCredential(cfg *pgconn.Config) bool {
	return cfg.Password != "" || cfg.OAuthTokenProvider != nil
}

// GuardDial refuses dials that securepg's per-connection hooks did not
// make: a configuration whose Tracer was replaced fails closed.
func GuardDial(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if ctx.Value(boundKey{}) == nil {
			return nil, unbound()
		}
		return dial(ctx, network, addr)
	}
}

// replyConn sees the server's answer to pgx's SSLRequest, so that a peer
// refusing TLS is recorded even when pgx then succeeds at another host.
type replyConn struct {
	net.Conn
	a    *pgxAttempts
	cur  *pgxAttempt
	seen bool
}

func (r *replyConn) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	if !r.seen && n > 0 {
		r.seen = true
		if b[0] != 'S' {
			f := r.a.facts(r.cur)
			f.Mode = ModeDisable
			detail := "the server (or something in between) refused TLS"
			if b[0] != 'N' {
				detail = "the server answered the SSLRequest with neither S nor N"
			}
			if refusal, _ := Pass(r.a.c.policy, Check{Stage: StageHandshake, Facts: f}); refusal != nil {
				// The read's error, so that pgx's connect error wraps
				// it for code that connects with pgx itself.
				v := TLSNotEstablished(f.Addr(), r.a.c.policy, detail)
				r.a.reject(r.cur, v)
				return 0, v
			}
		}
	}
	return n, err
}
