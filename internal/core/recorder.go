package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"sync"
)

// Facts describe one live connection as securepg validated it.
type Facts struct {
	Network string  // "tcp" or "unix"
	Host    string  // the DSN's host name for this connection (never an address with credentials)
	Port    uint16  //
	Mode    SSLMode // the effective sslmode of the host that answered

	TLS              bool
	Version          uint16
	CipherSuite      uint16
	Verify           Verification
	PeerCertificates []*x509.Certificate // client-side view; empty for lib/pq

	// Server is PostgreSQL's own view from pg_stat_ssl, when queried.
	Server *ServerSSL
}

// ServerSSL is a row of pg_stat_ssl for the connection's backend.
type ServerSSL struct {
	SSL     bool
	Version string
	Cipher  string
	Bits    int
}

// handshake is a TLS handshake that securepg's VerifyConnection accepted.
type handshake struct {
	leaf   *x509.Certificate
	host   string
	port   uint16
	mode   SSLMode
	verify Verification
}

// Recorder collects what happens during one Connect call: verified
// handshakes (pgx) and guarded sockets (lib/pq). It travels in the context.
type Recorder struct {
	mu         sync.Mutex
	handshakes []handshake
	guards     []*guardConn
	violations []*Violation
	dials      []string
}

type recorderKey struct{}

// WithRecorder returns ctx carrying a new Recorder.
func WithRecorder(ctx context.Context) (context.Context, *Recorder) {
	r := new(Recorder)
	return context.WithValue(ctx, recorderKey{}, r), r
}

func recorderFrom(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

func (r *Recorder) addHandshake(h handshake) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.handshakes = append(r.handshakes, h)
	r.mu.Unlock()
}

func (r *Recorder) findHandshake(leaf *x509.Certificate) (handshake, bool) {
	if r == nil {
		return handshake{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.handshakes {
		if h.leaf == leaf {
			return h, true
		}
	}
	return handshake{}, false
}

func (r *Recorder) addDial(network, addr string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.dials = append(r.dials, network+":"+addr)
	r.mu.Unlock()
}

// LastDial is the address of the last socket dialed, for errors that do
// not say which host they concern.
func (r *Recorder) LastDial() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dials) == 0 {
		return ""
	}
	_, addr, _ := strings.Cut(r.dials[len(r.dials)-1], ":")
	return addr
}

func (r *Recorder) addGuard(g *guardConn) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.guards = append(r.guards, g)
	r.mu.Unlock()
}

// addViolation records a violation that was let through (audit mode) during
// the connection attempt, so the caller can report it.
func (r *Recorder) addViolation(v *Violation) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.violations = append(r.violations, v)
	r.mu.Unlock()
}

// Violations returns what was let through during the attempt.
func (r *Recorder) Violations() []*Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Violation(nil), r.violations...)
}

// lastOpenGuard is the guarded socket that the successful lib/pq connection
// uses: the last one dialed that is still open.
func (r *Recorder) lastOpenGuard() *guardConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.guards) - 1; i >= 0; i-- {
		if !r.guards[i].isClosed() {
			return r.guards[i]
		}
	}
	return nil
}

func stateFacts(cs tls.ConnectionState) Facts {
	return Facts{
		TLS:              cs.HandshakeComplete,
		Version:          cs.Version,
		CipherSuite:      cs.CipherSuite,
		PeerCertificates: cs.PeerCertificates,
	}
}
