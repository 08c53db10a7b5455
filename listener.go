package securepg

import (
	"context"
	"net"
	"time"

	"github.com/lib/pq"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// NewListener is pq.NewListener under the policy: the DSN is judged now
// (a *PolicyError before anything is dialed), and every connection the
// listener makes, reconnections included, is dialed, negotiated and
// verified by securepg as sql.Open("securepg", dsn)'s are, then handed
// to lib/pq. lib/pq's own pq.NewListener dials by itself and would connect
// a sslmode=disable DSN in plaintext. The backend is lib/pq. Credential providers and BeforeConnect hooks are
// not run: lib/pq reconnects with the DSN's (or PGPASSWORD's, or the
// passfile's) password. A service file is read when the listener is made,
// as sql.Open reads it, never again by lib/pq; PGPASSWORD and the passfile
// are read again at each reconnect, and the password judged before
// anything is dialed.
func NewListener(dsn string, minReconnect, maxReconnect time.Duration, cb pq.EventCallbackType, opts ...Option) (*pq.Listener, error) {
	d, err := NewListenerDialer(dsn, opts...)
	if err != nil {
		return nil, err
	}
	return pq.NewDialListener(d, d.d.Name, minReconnect, maxReconnect, cb), nil
}

// ListenerDialer is a pq.Dialer that applies the policy, for
// pq.NewDialListener (and pq.DialOpen): pass it with its DSN.
type ListenerDialer struct {
	d *core.ListenerDialer
}

var _ pq.Dialer = (*ListenerDialer)(nil)

// NewListenerDialer judges dsn and returns the dialer for lib/pq's
// listeners on it.
func NewListenerDialer(dsn string, opts ...Option) (*ListenerDialer, error) {
	c, err := newConnector(dsn, append([]Option{set(core.SettingDriver, core.DriverPQ, "a lib/pq listener")}, opts...))
	if err != nil {
		return nil, err
	}
	pc, ok := c.backend.(*core.PQConfig)
	if !ok {
		return nil, errNotPQ
	}
	d, err := pc.Listener(context.Background(), c.reportListenerDial)
	if err != nil {
		return nil, err
	}
	return &ListenerDialer{d: d}, nil
}

// reportListenerDial gives a listener's dial the span, metrics and log
// lines of a connect when it has something to say.
func (c *connector) reportListenerDial(ctx context.Context, rec *core.Recorder, f core.Facts, err error) {
	if err == nil && len(rec.Rejected()) == 0 && len(rec.Audited()) == 0 {
		return
	}
	host, port := f.Host, int(f.Port)
	if last := rec.Last(); host == "" {
		host, port = last.Host, int(last.Port)
	}
	ctx, op := c.tel.ConnectStart(ctx, host, port)
	if rejected, live, err := c.outcome(ctx, op, rec, f, nil, err); err == nil {
		op.End(ctx, telemetry.ConnectResult{Facts: f, Rejected: rejected, Audited: live})
	}
}

type notPQError struct{}

func (notPQError) Error() string { return "securepg: a lib/pq listener needs the lib/pq backend" }

var errNotPQ = notPQError{}

// DSN is the connection string to give lib/pq with the dialer: the
// planned hosts with sslmode=disable (the dialer does TLS) and the
// configuration's password. Hand it to lib/pq; do not log it.
func (d *ListenerDialer) DSN() string { return d.d.Name }

// Dial connects to the planned host at address, validated.
func (d *ListenerDialer) Dial(network, address string) (net.Conn, error) {
	return d.d.Dial(network, address)
}

// DialTimeout is Dial bounded by timeout.
func (d *ListenerDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	return d.d.DialTimeout(network, address, timeout)
}

// DialContext is Dial bounded by ctx.
func (d *ListenerDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.d.DialContext(ctx, network, address)
}

// String describes the dialer without its DSN.
func (d *ListenerDialer) String() string {
	return "securepg.ListenerDialer{}"
}

// GoString keeps %#v from printing the DSN.
func (d *ListenerDialer) GoString() string { return d.String() }
