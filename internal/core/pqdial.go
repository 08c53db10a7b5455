package core

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// PQTarget is one host as securepg dials it for lib/pq.
type PQTarget struct {
	Target
	PQHost     string // lib/pq's Host for this host
	PQHostaddr string // lib/pq's Hostaddr, as text
	HostIP     netip.Addr
	DialNet    string // lib/pq's network() for this host
	DialAddr   string
	TLS        *ClientTLS // nil: no TLS (unix socket, sslmode=disable)
	Allow      bool       // sslmode=allow: plaintext, then TLS if the server insists
	Prefer     bool       // sslmode=prefer: TLS, then plaintext if the server refuses TLS
	Custom     bool       // sslmode=pqgo-*: lib/pq's own TLS (only where plaintext is allowed)
}

// PQNet is how a lib/pq configuration reaches the network: its policy,
// its dialer, and the resolver of host names (tests replace it).
type PQNet struct {
	Policy Policy
	Dialer net.Dialer
	Lookup func(ctx context.Context, host string) ([]string, error)
	// ServerError is lib/pq's error for an ErrorResponse's fields.
	ServerError func(fields map[byte]string) error
}

// PQDialer is the lib/pq Dialer of one host: it dials, negotiates TLS,
// verifies and judges, and hands lib/pq only a connection the policy
// accepts. Query cancellation dials through it too.
type PQDialer struct {
	Net    *PQNet
	Host   *PQTarget
	UseTLS bool // make a TLS attempt (with sslmode=prefer, falling back to plaintext)
	Rec    *Recorder
	Outer  context.Context // the connect's context, which bounds the connection until it is made
	done   atomic.Bool     // connected: later dials are lib/pq's query cancellations
	closed atomic.Bool     // the connection is closed: no query of it is left to cancel

	netAudited []*Violation // the last dialed address's, let through by audit mode
	loopback   bool         // the last address dialed, and its peer, are loopback

	Password bool // lib/pq will send a password on this connection
	Listener bool // lib/pq's listener: the session is judged when it starts

	// Late, for a listener, reports a refusal the authentication watch
	// makes after the dial returned (and its report was made).
	Late func(f Facts, v *Violation)
}

// watch bounds raw by the connect's context for as long as it connects
// (stop ends that), and by ctx, the dial's, until the dial returns
// (release ends that): lib/pq cancels the context it dials with, under
// connect_timeout, as soon as the dial returns.
func (d *PQDialer) watch(ctx context.Context, raw net.Conn, release *[]func() bool) (stop func() bool) {
	outer := d.Outer
	switch {
	case d.done.Load():
		// A query cancellation: bounded by its dial's context only.
		outer = context.Background()
	case outer == nil:
		outer = ctx
	}
	stop = Bound(outer, raw)
	if ctx != outer {
		if dl, ok := ctx.Deadline(); ok {
			if odl, ok := outer.Deadline(); !ok || dl.Before(odl) {
				raw.SetDeadline(dl)
			}
		}
		*release = append(*release, context.AfterFunc(ctx, func() { raw.SetDeadline(ALongTimeAgo) }))
	}
	return stop
}

func (d *PQDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *PQDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// ErrUnexpectedAddress: lib/pq dialed an address that is not one of the
// plan's, which securepg refuses rather than guess what it is.
var ErrUnexpectedAddress = errors.New("securepg: lib/pq dialed an address securepg did not plan")

func (d *PQDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	t := d.Host
	if network != t.DialNet || address != t.DialAddr {
		return nil, ErrUnexpectedAddress
	}
	if d.closed.Load() {
		// lib/pq's cancel watcher of a query it panicked in, woken when
		// securepg ends that query's context: nothing to cancel, and the
		// peer is not dialed again.
		return nil, errCancelClosed
	}
	var release []func() bool
	defer func() {
		for _, r := range release {
			r()
		}
	}()
	if network == "unix" || t.Custom {
		raw, err := d.dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		f := Facts{Network: network, Host: t.Host, Port: t.Port, Mode: t.Mode, ModeFrom: t.ModeFrom, MinTLS: t.MinTLS, Loopback: d.loopback}
		if network == "unix" {
			f.Mode = ModeDisable
		}
		return d.accept(raw, raw, f, d.watch(ctx, raw, &release), nil)
	}
	host, port, _ := net.SplitHostPort(address)
	addrs := []string{host}
	if t.PQHostaddr == "" {
		var err error
		if addrs, err = d.Net.Lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	return eachAddr(ctx, true, addrs, port, func(a string) (net.Conn, error) { return d.try(ctx, a, &release) })
}

// dial judges the address about to be dialed (each of a name's), connects,
// and judges the peer before a byte is sent.
func (d *PQDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "tcp" && !DialedAddr(addr).IsValid() {
		// lib/pq's sslmode=pqgo-*: the name, resolved here.
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := d.Net.Lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		return eachAddr(ctx, false, ips, port, func(a string) (net.Conn, error) { return d.dial(ctx, network, a) })
	}
	refusal, audited, loopback := CheckAddress(d.Net.Policy, d.Host.Target, network, addr)
	if refusal != nil {
		d.reject(refusal)
		return nil, refusal
	}
	raw, err := d.Net.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	refusal, peerLoopback := CheckPeer(d.Net.Policy, d.Host.Target, raw)
	if refusal != nil {
		raw.Close()
		d.reject(refusal)
		return nil, refusal
	}
	d.loopback = loopback && peerLoopback
	if !d.done.Load() {
		d.netAudited = audited
	}
	return raw, nil
}

// eachAddr dials each of addrs (with port) in turn, as libpq does, until
// one connects or, with stopAtEnd, ctx ends; then the first policy
// refusal, else every error.
func eachAddr(ctx context.Context, stopAtEnd bool, addrs []string, port string, dial func(string) (net.Conn, error)) (net.Conn, error) {
	var errs []error
	for _, a := range addrs {
		conn, err := dial(net.JoinHostPort(a, port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if stopAtEnd && ctx.Err() != nil {
			break
		}
	}
	var v *Violation
	for _, err := range errs {
		if errors.As(err, &v) {
			return nil, v
		}
	}
	return nil, errors.Join(errs...)
}

// errRefusedTLS: the server answered the SSLRequest with 'N'.
var errRefusedTLS = errors.New("the server refused TLS")

func (d *PQDialer) try(ctx context.Context, addr string, release *[]func() bool) (net.Conn, error) {
	t := d.Host
	raw, err := d.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := d.watch(ctx, raw, release)
	plain := Facts{Network: "tcp", Host: t.Host, Port: t.Port, Mode: ModeDisable, MinTLS: t.MinTLS, Loopback: d.loopback}
	if !d.UseTLS {
		return d.accept(raw, raw, plain, stop, nil)
	}
	conn, f, audited, err := d.handshake(ctx, raw)
	switch {
	case err == nil:
		return d.accept(conn, raw, f, stop, audited)
	case t.Prefer && errors.Is(err, errRefusedTLS):
		return d.accept(raw, raw, plain, stop, nil) // libpq goes on in plaintext on the same socket
	}
	stop()
	raw.Close()
	var v *Violation
	if !errors.As(err, &v) {
		v = d.classify(err)
	}
	if v != nil {
		d.reject(v)
	}
	if t.Prefer && ctx.Err() == nil {
		// A failed handshake under sslmode=prefer: libpq retries without
		// TLS on a new socket (the first one is closed, not left to the GC).
		raw, err := d.dial(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return d.accept(raw, raw, plain, d.watch(ctx, raw, release), nil)
	}
	if v != nil {
		return nil, v
	}
	return nil, err
}

// sslRequest is the 8-byte SSLRequest packet: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// handshake negotiates TLS on raw and verifies the server. It reads
// exactly one byte after the SSLRequest, so bytes a man in the middle
// appends to 'S' land in the TLS handshake and fail it (CVE-2021-23222).
func (d *PQDialer) handshake(ctx context.Context, raw net.Conn) (net.Conn, Facts, []*Violation, error) {
	t := d.Host
	if !t.TLS.direct {
		if _, err := raw.Write(sslRequest); err != nil {
			return nil, Facts{}, nil, err
		}
		var b [1]byte
		if _, err := io.ReadFull(raw, b[:]); err != nil {
			return nil, Facts{}, nil, err
		}
		switch b[0] {
		case 'S':
		case 'N':
			return nil, Facts{}, nil, errRefusedTLS
		default:
			return nil, Facts{}, nil, TLSNotEstablished(t.Addr(), d.Net.Policy, "the server answered the SSLRequest with neither S nor N")
		}
	}
	var facts Facts
	var audited []*Violation
	judge := func(f Facts) error {
		f.Network, f.Host, f.Port, f.Mode, f.ModeFrom, f.Loopback = "tcp", t.Host, t.Port, t.Mode, t.ModeFrom, d.loopback
		refusal, aud := Pass(d.Net.Policy, Check{Stage: StageHandshake, Facts: f})
		if refusal != nil {
			return refusal
		}
		// A password, and a verify-ca server whose certificate a public CA
		// issued: lib/pq cannot protect it.
		if d.Password && !PasswordProtected(d.Net.Policy, t.Target) {
			refusal, unbound := Pass(d.Net.Policy, Check{Stage: StageCredential, Credential: CredentialUnbound, Target: t.Target, Facts: f})
			if refusal != nil {
				return refusal
			}
			for _, v := range unbound {
				d.Rec.Audit(v)
			}
		}
		facts, audited = f, aud
		return nil
	}
	tc := tls.Client(raw, t.TLS.config(ctx, judge))
	if err := tc.HandshakeContext(ctx); err != nil {
		if v := DirectNotSpoken(t.Addr(), d.Net.Policy, err); v != nil && t.TLS.direct {
			return nil, Facts{}, nil, v
		}
		return nil, Facts{}, nil, err
	}
	if cs := tc.ConnectionState(); cs.CurveID != facts.CurveID {
		// TLS 1.2 names its group after VerifyConnection has run: judge
		// again with it.
		facts.CurveID = cs.CurveID
		refusal, aud := Pass(d.Net.Policy, Check{Stage: StageHandshake, Facts: facts})
		if refusal != nil {
			tc.Close()
			return nil, Facts{}, nil, refusal
		}
		audited = aud
	}
	return tc, facts, audited, nil
}

// classify names the policy meaning of a failed handshake, or nil.
func (d *PQDialer) classify(err error) *Violation {
	if errors.Is(err, errRefusedTLS) {
		return TLSNotEstablished(d.Host.Addr(), d.Net.Policy, "the server (or something in between) refused TLS")
	}
	if d.Net.Policy.OffersOnlyHybrid() && HandshakeRefused(err) {
		return NoHybridKeyExchange(d.Host.Addr(), err)
	}
	var alert tls.AlertError
	if errors.As(err, &alert) && (alert == 70 || alert == 71) || strings.Contains(err.Error(), "protocol version") {
		return TlsVersionTooLow(d.Host.Addr(), TLSVersionName(d.Host.MinTLS))
	}
	return nil
}

// accept judges a connection not judged in a handshake, and hands it to lib/pq.
func (d *PQDialer) accept(conn, raw net.Conn, f Facts, stop func() bool, audited []*Violation) (net.Conn, error) {
	if !f.TLS {
		refusal, aud := Pass(d.Net.Policy, Check{Stage: StageHandshake, Facts: f})
		if refusal != nil {
			stop()
			raw.Close()
			d.reject(refusal)
			return nil, refusal
		}
		audited = aud
	}
	f.LoopbackPlaintext = LoopbackPlaintext(d.Net.Policy, f)
	if !d.done.Load() {
		w := NewAuthWatch(d.Net.Policy, f.Addr(), d.Host.ClientCert != "")
		w.driverError = d.Net.ServerError
		w.in.keep = MaxAuthMessage // whole messages: pqMalformed reads them as lib/pq will
		if d.Listener {
			// lib/pq's listener goroutine recovers nothing: its session's
			// messages are checked for as long as it lives.
			w.after = listenerRules()
		} else {
			// Nor does its COPY FROM STDIN goroutine.
			w.after = w.copyRules()
		}
		w.rejected = func() { d.Rec.CredentialsRejected(d.Host.Target) }
		w.refuse = d.reject
		if d.Late != nil {
			w.refuse = func(v *Violation) { d.Late(f, v) }
		}
		// Whatever password lib/pq would send (it reads some itself), the
		// server's request for it is refused before lib/pq can answer
		// unless the grade accepts the method (lib/pq cannot bind SCRAM).
		w.grade, w.credential = d.Net.Policy.UnverifiedPassword, d.Password
		if (f.TLS || f.LoopbackPlaintext) && PasswordProtectedConn(d.Net.Policy, d.Host.Target, f) {
			switch {
			case !d.Net.Policy.Audit:
				w.protect = true
			case !d.Password || w.grade != PasswordBound:
				w.audit = d.Rec.Audit // else audited before dialing
			}
		}
		if d.Listener && d.Net.Policy.ForbidSuperuser {
			sf, server := f, conn // the connection below the watch
			w.session = func(superuser string) *Violation {
				sf.Superuser = superuser
				if AskRole(d.Net.Policy, sf) {
					role, err := AskRoleWire(server)
					if err != nil {
						return RoleUnread(sf.Addr(), err)
					}
					sf.Role = role
				}
				refusal, audited := Pass(d.Net.Policy, Check{Stage: StageSession, Facts: sf})
				for _, v := range audited {
					d.Rec.Audit(v)
				}
				return refusal
			}
		}
		audited = append(d.netAudited, audited...)
		d.Rec.addSocket(&Socket{Raw: raw, Facts: f, Audited: audited, Stop: stop, watch: w})
		conn = &AuthConn{Conn: conn, w: w, closed: &d.closed}
	}
	return conn, nil
}

var errCancelClosed = errors.New("securepg: the connection is closed; no cancel request is sent")

// reject records an attempt the policy refused, unless it cancels a query.
func (d *PQDialer) reject(v *Violation) {
	if !d.done.Load() {
		d.Rec.reject(v)
	}
}
