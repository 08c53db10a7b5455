package lab

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
)

// NewStripProxy answers 'N' to SSLRequest ("no TLS here") and relays the
// plaintext session that follows to upstream: a downgrade attacker.
func NewStripProxy(upstream string) (*Proxy, error) {
	return newProxy(func(c net.Conn) {
		if !readSSLRequest(c) {
			return
		}
		if _, err := c.Write([]byte{'N'}); err != nil {
			return
		}
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		relay(c, up)
	})
}

// NewTLSImpostor answers 'S', completes the TLS handshake with cert (up to
// maxVersion, 0 = any), and relays the decrypted session to upstream in
// plaintext. With a bad certificate it is a man in the middle; with the
// real one it behaves like a TLS-terminating pooler.
func NewTLSImpostor(upstream string, cert tls.Certificate, maxVersion uint16) (*Proxy, error) {
	return NewTLSImpostorOn("127.0.0.1:0", upstream, cert, maxVersion)
}

// NewTLSImpostorOn is NewTLSImpostor listening on addr (a loopback
// address: 127.0.0.2:5432, say, to stand beside a server on 127.0.0.1).
func NewTLSImpostorOn(addr, upstream string, cert tls.Certificate, maxVersion uint16) (*Proxy, error) {
	return tlsTerminator(addr, upstream, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion, MinVersion: tls.VersionTLS12})
}

// NewTLSFront terminates TLS with whatever certificate cert returns at
// each handshake and relays to upstream: a server whose certificate
// rotates, for testing that clients follow a rotation (of the server's
// certificate, or of its CA and the client's root file).
func NewTLSFront(upstream string, cert func() *tls.Certificate) (*Proxy, error) {
	return tlsTerminator("127.0.0.1:0", upstream, &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert(), nil }})
}

// NewSNIFront terminates TLS with cert and relays to upstream, as
// NewTLSImpostor does, and records the server name (SNI) of each
// ClientHello in Received: an empty record when the client sent none.
func NewSNIFront(upstream string, cert tls.Certificate) (*Proxy, error) {
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				p.record([]byte(hello.ServerName))
				return nil, nil
			}}
		p.terminateAndRelay(c, cfg, upstream)
	})
}

// tlsTerminator answers the SSLRequest, terminates TLS with cfg and relays
// the plaintext to upstream, counting what the client sent.
func tlsTerminator(addr, upstream string, cfg *tls.Config) (*Proxy, error) {
	return newSelfProxyOn(addr, func(p *Proxy, c net.Conn) {
		p.terminateAndRelay(c, cfg, upstream)
	})
}

// terminateAndRelay answers the SSLRequest on c, terminates TLS with cfg
// and relays the plaintext to upstream, counting what the client sent.
func (p *Proxy) terminateAndRelay(c net.Conn, cfg *tls.Config, upstream string) {
	tc, ok := startTLS(c, cfg)
	if !ok {
		return
	}
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	relay(&countingConn{Conn: tc, n: &p.fromClient}, up)
}

// FromClient is how many bytes an impostor received from clients once TLS
// was established. Call it after Close, which waits for the connections.
func (p *Proxy) FromClient() int64 { return p.fromClient.Load() }

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// NewInjectProxy answers 'S' immediately followed by inject, the
// CVE-2021-23222 attack: a client that reads more than one byte before the
// handshake would take inject as the server's plaintext answer. It records
// whatever the client sends next.
func NewInjectProxy(inject []byte) (*Proxy, error) {
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		if !readSSLRequest(c) {
			return
		}
		if _, err := c.Write(append([]byte{'S'}, inject...)); err != nil {
			return
		}
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		p.record(b[:n])
	})
}

// NewCleartextServer is a fake PostgreSQL server without TLS that asks for
// the password in cleartext and records every message the client sends
// after its startup message, then fails it as a wrong password (28P01).
func NewCleartextServer() (*Proxy, error) { return NewCleartextServerCode("28P01") }

// NewCleartextServerCode is NewCleartextServer failing the session with
// SQLSTATE code instead (53300, too many connections, makes pgx try its
// next host; 28P01 makes it stop).
func NewCleartextServerCode(code string) (*Proxy, error) {
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		br := c
		head := make([]byte, 8)
		if _, err := io.ReadFull(br, head); err != nil {
			return
		}
		if bytes.Equal(head, sslRequest) {
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			if _, err := io.ReadFull(br, head); err != nil {
				return
			}
		}
		// head is the start of the StartupMessage: length, protocol.
		n := int(binary.BigEndian.Uint32(head[:4]))
		if n < 8 || n > 10000 {
			return
		}
		if _, err := io.CopyN(io.Discard, br, int64(n-8)); err != nil {
			return
		}
		// AuthenticationCleartextPassword.
		if _, err := c.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}); err != nil {
			return
		}
		msg, err := readMessage(br)
		if err != nil {
			return
		}
		p.record(msg)
		c.Write(errorResponse(code, "fake server"))
	})
}

func readMessage(r io.Reader) ([]byte, error) {
	head := make([]byte, 5)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(head[1:5]))
	if n < 4 || n > 1<<20 {
		return nil, errors.New("bad message length")
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// errorResponse builds a FATAL ErrorResponse message.
func errorResponse(code, msg string) []byte {
	body := []byte("SFATAL\x00C" + code + "\x00M" + msg + "\x00\x00")
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(body)+4))
	return append(out, body...)
}

// NewRelay relays raw TCP to upstream: the server seen through a door that
// counts who comes in. Tests point DSNs at it to prove what was dialed.
func NewRelay(upstream string) (*Proxy, error) {
	return newProxy(func(c net.Conn) {
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		relay(c, up)
	})
}

// Stall is where a stalling peer stops answering.
type Stall int

// The stages a stalling peer can stop at.
const (
	StallAtOnce   Stall = iota // accepts, never answers
	StallAfterS                // answers the SSLRequest with 'S', then nothing
	StallAfterTLS              // completes the TLS handshake, then never answers the startup message
)

// NewStallProxy is a peer that stops answering at stage, and holds the
// connection until the client gives up: what a blackholed or hostile
// server does to a client that does not bound its reads.
func NewStallProxy(stage Stall, cert tls.Certificate) (*Proxy, error) {
	return newProxy(func(c net.Conn) {
		if stage >= StallAfterS {
			if !readSSLRequest(c) {
				return
			}
			if _, err := c.Write([]byte{'S'}); err != nil {
				return
			}
		}
		if stage == StallAfterTLS {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
		}
		io.Copy(io.Discard, c) // until the client closes
	})
}

// NewCertRequestImpostor is a TLS impostor with cert that asks for a client
// certificate and records every certificate a client sends (as DER), then
// relays to upstream like NewTLSImpostor.
func NewCertRequestImpostor(upstream string, cert tls.Certificate) (*Proxy, error) {
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				for _, c := range raw {
					p.record(c)
				}
				return nil
			}}
		p.terminateAndRelay(c, cfg, upstream)
	})
}
