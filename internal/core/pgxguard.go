package core

import (
	"context"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// A pgx configuration securepg hardened dials only through the hooks
// BeforeConnect installs: GuardDial refuses any other dial. HasCredential
// says what such a dial would carry. replyConn watches the server's answer
// to pgx's SSLRequest.

type boundKey struct{}

// boundDial marks a dial made through securepg's per-connection hooks.
func boundDial(ctx context.Context) context.Context { return context.WithValue(ctx, boundKey{}, true) }

// unbound refuses a connect made with a hardened pgx configuration on
// which securepg's per-connection hooks did not run (its Tracer, through
// which pgx hands securepg each connect, was replaced): nothing is dialed,
// and no TLS handshake completes.
func unbound() *Violation {
	return &Violation{Reason: ReasonTLSNotEstablished, Got: "unvalidated connection", Want: "securepg's connect hooks", Hard: true,
		Detail: "securepg's connect hooks did not run on this connect: the configuration's Tracer was replaced after ConfigurePgx or ConfigurePool",
		Fix:    "set your tracer before calling ConfigurePgx or ConfigurePool (securepg composes with it), or configure a configuration parsed anew"}
}

// HasCredential reports whether pgx would send a credential that a man
// in the middle could use: a password (the DSN's, PGPASSWORD, a
// passfile's, a provider's) or an OAuth bearer token
// (OAuthTokenProvider, for PostgreSQL 18's OAUTHBEARER).
func HasCredential(cfg *pgconn.Config) bool {
	return cfg.Password != "" || cfg.OAuthTokenProvider != nil
}

// GuardDial refuses dials that securepg's per-connection hooks did not
// make: a configuration whose Tracer was replaced after it was hardened
// fails closed before anything is dialed.
func GuardDial(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if ctx.Value(boundKey{}) == nil {
			return nil, unbound()
		}
		return dial(ctx, network, addr)
	}
}

// replyConn sees the server's answer to pgx's SSLRequest, so that a peer
// that refuses TLS is recorded even when pgx then succeeds at another host.
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
				// The refusal is the read's error, so that pgx's
				// connect error wraps it: code that connects with pgx
				// itself (ConfigurePgx, ConfigurePool) finds the
				// *PolicyError, as database/sql's callers do.
				v := TlsNotEstablished(f.Addr(), r.a.c.policy, detail)
				r.a.reject(r.cur, v)
				return 0, v
			}
		}
	}
	return n, err
}
