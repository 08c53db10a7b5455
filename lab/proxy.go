// The adversarial peers of the lab: proxies that strip TLS, impostors with
// bad certificates, a byte injector, stalling peers and a fake server that
// asks for a cleartext password. Everything listens on loopback only.

package lab

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// sentinel is written by Proxy.DialsBefore to mark its own connection.
var sentinel = []byte("SENTINEL")

var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// Proxy is a loopback listener that plays one adversarial role.
type Proxy struct {
	ln       net.Listener
	handle   func(net.Conn)
	accepted atomic.Int64
	// fromClient counts the bytes an impostor read from clients after the
	// TLS handshake: a startup message, a password.
	fromClient atomic.Int64
	sessions   atomic.Int64 // authenticated sessions an impostor obtained
	marks      chan int64
	wg         sync.WaitGroup

	mu       sync.Mutex
	received [][]byte // what clients sent, for assertions
}

// Addr is 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// PortString is Port as a string.
func (p *Proxy) PortString() string { return strconv.Itoa(p.Port()) }

// Close stops the proxy and waits for its connections to end.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// Received returns what clients sent after the SSLRequest, per connection
// (fake servers only).
func (p *Proxy) Received() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.received...)
}

func (p *Proxy) record(b []byte) {
	p.mu.Lock()
	p.received = append(p.received, append([]byte(nil), b...))
	p.mu.Unlock()
}

func newProxy(handle func(net.Conn)) (*Proxy, error) {
	return newProxyOn("127.0.0.1:0", handle)
}

func newProxyOn(addr string, handle func(net.Conn)) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, handle: handle, marks: make(chan int64, 1)}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// newSelfProxyOn is newProxyOn for a handler that needs its proxy (to
// count or record): it gets it as an argument, never through a variable
// assigned after the proxy started serving.
func newSelfProxyOn(addr string, handle func(*Proxy, net.Conn)) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, marks: make(chan int64, 1)}
	p.handle = func(c net.Conn) { handle(p, c) }
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n := p.accepted.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			br := &peekConn{Conn: c}
			head, err := br.peek(len(sentinel))
			if err == nil && bytes.Equal(head, sentinel) {
				p.marks <- n
				return
			}
			p.handle(br)
		}()
	}
}

// DialsBefore connects to the proxy itself and returns how many connections
// the proxy accepted before this one. Accepts are in dial order, so a
// result of 0 proves that nothing under test dialed the proxy before the
// call: no sleeps, no timing.
func (p *Proxy) DialsBefore() (int64, error) {
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Write(sentinel); err != nil {
		return 0, err
	}
	n := <-p.marks
	return n - 1, nil
}

// Accepted is the number of connections accepted so far (sentinels too).
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// peekConn lets the proxy look at the first bytes without losing them.
type peekConn struct {
	net.Conn
	buf []byte
}

func (c *peekConn) peek(n int) ([]byte, error) {
	for len(c.buf) < n {
		b := make([]byte, n-len(c.buf))
		m, err := c.Conn.Read(b)
		c.buf = append(c.buf, b[:m]...)
		if err != nil {
			return c.buf, err
		}
	}
	return c.buf[:n], nil
}

func (c *peekConn) Read(b []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(b, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// readSSLRequest consumes an SSLRequest; false if the client sent
// something else first.
func readSSLRequest(c net.Conn) bool {
	b := make([]byte, 8)
	if _, err := io.ReadFull(c, b); err != nil {
		return false
	}
	return bytes.Equal(b, sslRequest)
}

// startTLS plays a server that accepts TLS: it reads the SSLRequest,
// answers 'S' and completes the handshake with cfg.
func startTLS(c net.Conn, cfg *tls.Config) (*tls.Conn, bool) {
	if !readSSLRequest(c) {
		return nil, false
	}
	if _, err := c.Write([]byte{'S'}); err != nil {
		return nil, false
	}
	tc := tls.Server(c, cfg)
	return tc, tc.Handshake() == nil
}

func relay(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}
