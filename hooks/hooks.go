package hooks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
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

// ErrPolicyViolation is matched by every refusal (securepg.ErrPolicyViolation
// is this value): errors.Is(err, ErrPolicyViolation) reports whether
// securepg refused a connection because it was weaker than the policy.
var ErrPolicyViolation = errors.New("securepg: policy violation")

// Violation is securepg's one violation type: the error of every refusal
// (securepg.PolicyError is this type, found with errors.As) and what
// OnViolation hears, refused or let through by audit mode. It never holds
// a credential, and its text fields are escaped (no control characters).
type Violation struct {
	Reason  string // a stable code: securepg.ReasonTLSDisabled, ...
	Host    string // host:port or unix socket directory
	Got     string // what the connection had, e.g. "prefer"
	Want    string // what the policy demands, e.g. "verify-full"
	Detail  string // what is wrong, in a sentence
	Fix     string // what to change
	Err     error  // the underlying cause (an x509 error, for instance), or nil
	Outcome string // "refused" (every returned error) or "audited"
}

// Message says what is wrong, where, why and how to fix it, ending with
// the reason code in brackets.
func (v *Violation) Message() string {
	var b strings.Builder
	if v.Host != "" {
		b.WriteString(v.Host + ": ")
	}
	b.WriteString(v.Detail)
	if v.Err != nil {
		b.WriteString(": " + v.Err.Error())
	}
	if v.Fix != "" {
		b.WriteString("; " + v.Fix)
	}
	b.WriteString(" [" + v.Reason + "]")
	return b.String()
}

// Error is "securepg: refused: " (or "audited: ") and the Message.
func (v *Violation) Error() string {
	outcome := v.Outcome
	if outcome == "" {
		outcome = "refused"
	}
	return "securepg: " + outcome + ": " + v.Message()
}

// Is makes errors.Is(err, ErrPolicyViolation) true.
func (v *Violation) Is(target error) bool { return target == ErrPolicyViolation }

// Unwrap returns Err.
func (v *Violation) Unwrap() error { return v.Err }

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
	OnViolation func(ctx context.Context, v *Violation)

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

// Error names the hook, its set and what went wrong.
func (e *Error) Error() string {
	what := "failed"
	if e.Panic {
		what = "panicked"
	}
	return fmt.Sprintf("securepg: hook %s[%d] %s: %v", e.Hook, e.Index, what, e.Err)
}

// Unwrap returns the hook's error (or the error it panicked with).
func (e *Error) Unwrap() error { return e.Err }
