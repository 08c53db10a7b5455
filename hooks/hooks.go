package hooks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"fmt"
	"time"
)

// Attempt is a redacted view of a connection about to be made: it never
// holds a password.
type Attempt struct {
	Driver   string // "pgx" or "pq"
	Host     string // the DSN's first host (or the host that answered, in ConnInfo)
	Port     int
	Database string
	User     string
	SSLMode  string // the effective sslmode, e.g. "verify-full"
}

// Credentials replace the configured user and password of one new
// connection. Every fmt verb shows the password as xxxxx.
type Credentials struct {
	User     string    // empty keeps the configured user
	Password string    // the secret
	Expires  time.Time // zero: no expiry; securepg recycles connections before it
}

// Format renders c for every verb without the password.
func (c Credentials) Format(f fmt.State, verb rune) {
	pw := ""
	if c.Password != "" {
		pw = "xxxxx"
	}
	fmt.Fprintf(f, "hooks.Credentials{User:%q, Password:%q, Expires:%s}", c.User, pw, c.Expires.Format(time.RFC3339))
}

// CredentialProvider supplies credentials, called once per new physical
// connection, so a rotated secret needs no restart.
type CredentialProvider interface {
	Credentials(ctx context.Context, a Attempt) (Credentials, error)
}

// CredentialFunc adapts a function to CredentialProvider.
type CredentialFunc func(ctx context.Context, a Attempt) (Credentials, error)

// Credentials calls f.
func (f CredentialFunc) Credentials(ctx context.Context, a Attempt) (Credentials, error) {
	return f(ctx, a)
}

// AuthFailureHandler is implemented by providers that cache: AuthFailed
// is called when the server rejected their credentials (SQLSTATE 28P01 or
// 28000), so the next connection fetches them anew.
type AuthFailureHandler interface {
	AuthFailed(ctx context.Context, a Attempt)
}

// ConnInfo describes a new connection that securepg validated. The TLS
// fields are the handshake with the peer securepg dialed: behind a pooler,
// the pooler.
type ConnInfo struct {
	Attempt                               // the host that answered; SSLMode is its effective sslmode
	Network           string              // "tcp" or "unix"
	TLS               bool                // encrypted
	Version           uint16              // tls.VersionTLS12, tls.VersionTLS13
	CipherSuite       uint16              // a tls.TLS_* value
	CurveID           tls.CurveID         // the negotiated key-exchange group (tls.X25519MLKEM768, tls.X25519, ...); 0 when not known
	HybridPQ          bool                // CurveID is a hybrid post-quantum group (X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024)
	Verification      string              // "none", "verify-ca" or "verify-full": what the handshake proved
	PeerCertificates  []*x509.Certificate // the server's chain, leaf first
	ServerSSL         *bool               // lib/pq: pg_stat_ssl's view of the backend that answered
	ServerViaPooler   bool                // lib/pq: a pooler sits between, and ServerSSL is its own connection to the server
	AuthMethod        string              // "scram-sha-256-plus", "scram-sha-256", "md5", "password", "cert", "trust", ...
	ChannelBinding    bool                // SCRAM was bound to the TLS channel (tls-server-end-point)
	Superuser         bool                // the session's role is a superuser (the server's is_superuser)
	LoopbackPlaintext bool                // below the minimum sslmode, to a loopback address: let through by SECUREPG_ALLOW_LOOPBACK_PLAINTEXT
}

// Violation is a policy violation: refused, or let through by audit mode.
type Violation struct {
	Reason  string // a securepg reason code, e.g. "plaintext_fallback"
	Host    string // host:port or socket directory
	Got     string
	Want    string
	Detail  string
	Outcome string // "refused" or "audited"
}

// OpPgx is QueryEvent.Op for a statement run through pgx's own API.
const OpPgx = "pgx"

// QueryEvent is one Exec or Query.
type QueryEvent struct {
	// Op is the call: "query" or "exec" through database/sql (both
	// backends, OpenDB too); OpPgx through pgx's own API (ConfigurePgx,
	// ConfigurePool), whose tracer does not tell them apart.
	Op string

	SQL      string              // the statement text
	Args     []driver.NamedValue // only for hooks with QueryArgs set: values may be secrets
	Start    time.Time
	Duration time.Duration // set for AfterQuery
	Err      error         // set for AfterQuery
}

// Hooks is one set of hooks. Any field may be nil. securepg.WithHooks
// installs sets in order: BeforeConnect, AfterConnect and BeforeQuery run
// in that order, AfterQuery in the reverse order, OnViolation in order.
type Hooks struct {
	// BeforeConnect runs before each new physical connection, after the
	// credentials were resolved. An error fails the attempt.
	BeforeConnect func(ctx context.Context, a Attempt) error

	// AfterConnect runs after a new connection was validated. An error
	// closes it and is returned; it never leads to a weaker fallback.
	AfterConnect func(ctx context.Context, c ConnInfo) error

	// OnViolation hears every refusal and every audited violation, for
	// alerting. It cannot change the outcome.
	OnViolation func(ctx context.Context, v Violation)

	// BeforeQuery and AfterQuery observe each Exec and Query. The context
	// BeforeQuery returns is passed on (with pgx, to AfterQuery only).
	BeforeQuery func(ctx context.Context, q *QueryEvent) context.Context
	AfterQuery  func(ctx context.Context, q *QueryEvent)

	// QueryArgs fills QueryEvent.Args. Off by default: argument values
	// may be secrets.
	QueryArgs bool
}

// Error is a hook's failure, or its panic.
type Error struct {
	Hook  string // "BeforeConnect", "AfterConnect", "CredentialProvider", ...
	Index int    // which set, in installation order
	Panic bool   // the hook panicked
	Err   error
}

func (e *Error) Error() string {
	what := "failed"
	if e.Panic {
		what = "panicked"
	}
	return fmt.Sprintf("securepg: hook %s[%d] %s: %v", e.Hook, e.Index, what, e.Err)
}

// Unwrap returns the hook's error (or the error it panicked with).
func (e *Error) Unwrap() error { return e.Err }
