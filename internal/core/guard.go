package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"
)

// sslRequest is the 8-byte SSLRequest packet: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// errBlocked is returned by a guarded socket that refused to send bytes.
var errBlocked = errors.New("securepg: blocked a plaintext PostgreSQL message before it left the machine")

// guardDialer is lib/pq's Dialer. lib/pq hides its TLS state, so the guard
// watches the raw bytes: the first message out must be an SSLRequest (or a
// TLS ClientHello, for sslnegotiation=direct), the server must answer 'S',
// and from then on only TLS records may leave. It also reads the server's
// ServerHello to learn the negotiated version and cipher on the client side.
type guardDialer struct {
	policy Policy
	dialer net.Dialer
}

func (d *guardDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *guardDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d *guardDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	rec := recorderFrom(ctx)
	rec.addDial(network, address)
	c, err := d.dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	g := &guardConn{Conn: c, network: network, address: address, rec: rec, policy: d.policy}
	rec.addGuard(g)
	return g, nil
}

type guardState int

const (
	stateStart guardState = iota
	stateAwaitReply
	stateTLS
	statePlain
	stateBlocked
)

type guardConn struct {
	net.Conn
	network, address string
	rec              *Recorder
	policy           Policy

	mu     sync.Mutex
	state  guardState
	reply  byte
	record int    // bytes left in the current outgoing TLS record
	header []byte // a partial outgoing record header
	sniff  serverHelloSniffer
	closed bool
}

func (g *guardConn) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

func (g *guardConn) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return g.Conn.Close()
}

func (g *guardConn) Write(b []byte) (int, error) {
	g.mu.Lock()
	err := g.check(b)
	g.mu.Unlock()
	if err != nil {
		g.Close()
		return 0, err
	}
	return g.Conn.Write(b)
}

// check decides whether b may leave. It holds g.mu.
func (g *guardConn) check(b []byte) error {
	switch g.state {
	case stateStart:
		switch {
		case bytes.HasPrefix(b, sslRequest) && len(b) == len(sslRequest):
			g.state = stateAwaitReply
			return nil
		case len(b) > 0 && b[0] == 0x16: // a TLS handshake record: sslnegotiation=direct
			g.state = stateTLS
			return g.checkRecords(b)
		}
		return g.plaintext("the first message was not an SSLRequest")
	case stateAwaitReply:
		return g.plaintext("a message was sent before the server accepted TLS")
	case stateTLS:
		return g.checkRecords(b)
	case statePlain:
		return nil
	default:
		return errBlocked
	}
}

func (g *guardConn) plaintext(why string) error {
	if g.network == "unix" && g.policy.AllowUnixSocket {
		g.state = statePlain
		return nil
	}
	v := &Violation{Reason: ReasonTLSNotEstablished, Host: g.address, Got: "plaintext", Want: g.policy.MinSSLMode.String(),
		Detail: "lib/pq was about to talk plaintext (" + why + ")",
		Fix:    "use an sslmode that requires TLS"}
	if !g.policy.MinSSLMode.NeedsTLS() {
		g.state = statePlain
		return nil
	}
	if g.policy.Audit {
		g.rec.addViolation(v)
		g.state = statePlain
		return nil
	}
	g.state = stateBlocked
	v.Err = errBlocked
	return v
}

// checkRecords follows the TLS record framing of outgoing bytes.
func (g *guardConn) checkRecords(b []byte) error {
	for len(b) > 0 {
		if g.record > 0 {
			n := min(g.record, len(b))
			g.record -= n
			b = b[n:]
			continue
		}
		need := 5 - len(g.header)
		n := min(need, len(b))
		g.header = append(g.header, b[:n]...)
		b = b[n:]
		if len(g.header) < 5 {
			return nil
		}
		h := g.header
		g.header = g.header[:0]
		if h[0] < 20 || h[0] > 24 || h[1] != 3 {
			g.state = stateBlocked
			return errBlocked
		}
		g.record = int(binary.BigEndian.Uint16(h[3:5]))
	}
	return nil
}

func (g *guardConn) Read(b []byte) (int, error) {
	n, err := g.Conn.Read(b)
	if n > 0 {
		g.mu.Lock()
		switch g.state {
		case stateAwaitReply:
			g.reply = b[0]
			if b[0] == 'S' {
				g.state = stateTLS
				g.sniff.feed(b[1:n]) // bytes after 'S' belong to the TLS stream
			}
		case stateTLS:
			g.sniff.feed(b[:n])
		}
		g.mu.Unlock()
	}
	return n, err
}

// tlsView is the client-side TLS facts of the socket.
func (g *guardConn) tlsView() (tls bool, version, cipher uint16, plain bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state == stateTLS && g.sniff.done, g.sniff.version, g.sniff.cipher, g.state == statePlain
}

// serverHelloSniffer reads the server's first TLS flight for its
// ServerHello: negotiated version (supported_versions in TLS 1.3) and
// cipher suite. Both are covered by the handshake transcript, so once the
// handshake has completed they are what was really negotiated.
type serverHelloSniffer struct {
	buf     []byte // raw records not yet consumed
	hs      []byte // handshake message bytes
	done    bool
	version uint16
	cipher  uint16
	retries int // HelloRetryRequests seen
}

const maxSniff = 64 << 10

var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

func (s *serverHelloSniffer) feed(b []byte) {
	if s.done || len(s.buf)+len(b) > maxSniff {
		return
	}
	s.buf = append(s.buf, b...)
	for len(s.buf) >= 5 && !s.done {
		n := int(binary.BigEndian.Uint16(s.buf[3:5]))
		if len(s.buf) < 5+n {
			return
		}
		typ, body := s.buf[0], s.buf[5:5+n]
		s.buf = s.buf[5+n:]
		if typ != 22 { // not handshake (e.g. change_cipher_spec after a HelloRetryRequest)
			continue
		}
		s.hs = append(s.hs, body...)
		for len(s.hs) >= 4 && !s.done {
			mlen := int(s.hs[1])<<16 | int(s.hs[2])<<8 | int(s.hs[3])
			if len(s.hs) < 4+mlen {
				break
			}
			msg := s.hs[4 : 4+mlen]
			mtyp := s.hs[0]
			s.hs = s.hs[4+mlen:]
			if mtyp == 2 {
				s.parseServerHello(msg)
			}
		}
	}
}

func (s *serverHelloSniffer) parseServerHello(m []byte) {
	if len(m) < 2+32+1 {
		return
	}
	version := binary.BigEndian.Uint16(m[:2])
	random := m[2:34]
	m = m[34:]
	sid := int(m[0])
	if len(m) < 1+sid+3 {
		return
	}
	m = m[1+sid:]
	cipher := binary.BigEndian.Uint16(m[:2])
	m = m[3:]
	if len(m) >= 2 {
		ext := m[2:]
		for len(ext) >= 4 {
			et := binary.BigEndian.Uint16(ext[:2])
			el := int(binary.BigEndian.Uint16(ext[2:4]))
			if len(ext) < 4+el {
				break
			}
			if et == 43 && el == 2 { // supported_versions
				version = binary.BigEndian.Uint16(ext[4:6])
			}
			ext = ext[4+el:]
		}
	}
	if bytes.Equal(random, helloRetryRandom) {
		s.retries++
		return // a HelloRetryRequest: the real ServerHello follows
	}
	s.version, s.cipher, s.done = version, cipher, true
	s.buf, s.hs = nil, nil
}
