package core

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// handshake completes a TLS attempt's handshake on conn (securepg
// verified it in VerifyConnection) and returns the attempt's facts: the
// handshake's, or a plaintext connection's.
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
			// Offered only hybrid groups over TLS 1.3, the server
			// agreed on none: the policy's refusal on every way in
			// (pgx used directly included), not a bare TLS alert.
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
// configuration's, the passfile's entry for the host, or the provider's.
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
// password protection: with a password, and a server whose identity the
// attempt does not verify, only SCRAM with channel binding (pgx's own
// checks, and securepg's watch, which refuses before pgx can answer). It
// returns the violations audit mode let through.
func (a *pgxAttempts) watchAuth(cfg *pgconn.Config, cur *pgxAttempt, f Facts) (*authWatch, []*Violation, error) {
	cfg.ChannelBinding, cfg.RequireAuth = a.channelBinding, a.requireAuth
	t := cur.entry.target
	w := NewAuthWatch(a.c.policy, f.Addr(), t.ClientCert != "")
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
