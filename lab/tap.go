package lab

import "net"

// NewTapRelay relays raw TCP to upstream, like NewRelay, and records the
// first bytes (at most limit) that each client sent, available from
// Received once the connection ended (Close waits for that). They tell a
// TLS record (0x16: sslnegotiation=direct) from an SSLRequest, and show
// whether anything in plaintext followed.
func NewTapRelay(upstream string, limit int) (*Proxy, error) {
	return NewTapRelayOn("127.0.0.1:0", upstream, limit)
}

// NewTapRelayOn is NewTapRelay listening on addr (a loopback address:
// 127.0.0.2:0, say, for a second host).
func NewTapRelayOn(addr, upstream string, limit int) (*Proxy, error) {
	return newSelfProxyOn(addr, func(p *Proxy, c net.Conn) {
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		tc := &tapConn{Conn: c, limit: limit}
		relay(tc, up)
		p.record(tc.head)
	})
}

// tapConn keeps the first bytes read from the client.
type tapConn struct {
	net.Conn
	limit int
	head  []byte
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if room := c.limit - len(c.head); room > 0 {
		c.head = append(c.head, b[:min(n, room)]...)
	}
	return n, err
}
