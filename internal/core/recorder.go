package core

import (
	"context"
	"net"
	"sync"
	"time"
)

// Creds are the credentials of one host, from a password file, a provider or a hook.
type Creds struct {
	User     string // "" keeps the configured user
	Password string
}

// CredsFunc resolves the credentials for one host of a connection attempt;
// nil keeps what the driver reads itself.
type CredsFunc func(ctx context.Context, t Target) (*Creds, error)

// Recorder collects what happens during one Connect call: the attempts
// the policy refused (reported even when a later host succeeds), the
// audited violations, and the last host tried.
type Recorder struct {
	mu            sync.Mutex
	rejected      []*Violation
	audited       []*Violation // let through by audit mode during an attempt
	last          Target       // the target of the last attempt
	rejectedCreds *Target      // the host whose server rejected credentials it had asked for
	sockets       []*Socket    // lib/pq: the sockets securepg dialed and validated
	pgx           *pgxAttempts // pgx: the attempts of this Connect
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return new(Recorder) }

// Reject records an attempt the policy refused.
func (r *Recorder) Reject(v *Violation) { r.reject(v) }

func (r *Recorder) reject(v *Violation) {
	r.mu.Lock()
	r.rejected = append(r.rejected, v)
	r.mu.Unlock()
}

// Audit records a violation audit mode let through.
func (r *Recorder) Audit(v *Violation) {
	r.mu.Lock()
	r.audited = append(r.audited, v)
	r.mu.Unlock()
}

// Audited returns the violations audit mode let through while connecting,
// whether or not the connection was then made.
func (r *Recorder) Audited() []*Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Violation(nil), r.audited...)
}

// Rejected returns the attempts the policy refused, in order.
func (r *Recorder) Rejected() []*Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Violation(nil), r.rejected...)
}

// Attempt records t as the target of the last attempt.
func (r *Recorder) Attempt(t Target) {
	r.mu.Lock()
	r.last = t
	r.mu.Unlock()
}

// CredentialsRejected records that the server at t asked for the
// credentials, got the client's answer, and rejected them (28P01, 28000).
func (r *Recorder) CredentialsRejected(t Target) {
	r.mu.Lock()
	if r.rejectedCreds == nil {
		r.rejectedCreds = &t
	}
	r.mu.Unlock()
}

// RejectedCredentials returns the host whose server rejected credentials
// it had asked for. A server that fails a login it never asked for has
// rejected nothing: a caching provider must not drop its cache for it.
func (r *Recorder) RejectedCredentials() (Target, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rejectedCreds == nil {
		return Target{}, false
	}
	return *r.rejectedCreds, true
}

// Last is the target of the last attempt.
func (r *Recorder) Last() Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Socket is a connection that securepg's lib/pq dialer validated.
type Socket struct {
	Raw     net.Conn // the TCP or unix socket
	Facts   Facts
	Audited []*Violation
	Stop    func() bool // stops bounding the socket by the connect's context
	watch   *authWatch  // follows the authentication
}

func (r *Recorder) addSocket(s *Socket) {
	r.mu.Lock()
	r.sockets = append(r.sockets, s)
	r.mu.Unlock()
}

// Mark is the count of sockets so far, for Since.
func (r *Recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sockets)
}

// Since returns the sockets added after mark.
func (r *Recorder) Since(mark int) []*Socket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Socket(nil), r.sockets[mark:]...)
}

// ALongTimeAgo is a deadline in the past: blocked reads and writes return at once.
var ALongTimeAgo = time.Unix(1, 0)

// Bound makes every read and write on c honour ctx: its deadline, and its
// cancellation. stop ends that and reports whether ctx had already fired.
func Bound(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(ALongTimeAgo) })
}
