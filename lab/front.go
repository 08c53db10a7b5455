package lab

import (
	"crypto/tls"
	"net"
	"strings"
)

// NewHybridFront is a TLS-terminating front for a real PostgreSQL: it
// answers the SSLRequest with 'S', terminates TLS with Go's crypto/tls
// (which speaks the hybrid post-quantum groups X25519MLKEM768,
// SecP256r1MLKEM768 and SecP384r1MLKEM1024 beside the classical ones,
// TLS 1.2 and 1.3) with cert, and relays the session to upstream in
// plaintext over loopback. The lab's PostgreSQL is built with an OpenSSL
// older than 3.5, which knows no hybrid group: the front is what a server
// with OpenSSL 3.5 and ssl_groups would negotiate. Received holds, per
// handshake, the group negotiated and the groups the client offered:
// "X25519MLKEM768 offered X25519MLKEM768,SecP256r1MLKEM768" (names as
// tls.CurveID.String() spells them). cert may hold a chain (leaf first),
// which the front sends whole.
func NewHybridFront(upstream string, cert tls.Certificate) (*Proxy, error) {
	return newSelfProxyOn("127.0.0.1:0", func(p *Proxy, c net.Conn) {
		var offered []string
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
				tls.X25519, tls.CurveP256, tls.CurveP384},
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				for _, g := range hello.SupportedCurves {
					offered = append(offered, g.String())
				}
				return nil, nil
			}}
		tc, ok := startTLS(c, cfg)
		if !ok {
			return
		}
		p.record([]byte(tc.ConnectionState().CurveID.String() + " offered " + strings.Join(offered, ",")))
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		relay(&countingConn{Conn: tc, n: &p.fromClient}, up)
	})
}
