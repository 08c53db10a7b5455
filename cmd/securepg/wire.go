package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/securepg/securepg/internal/core"
)

// This file speaks as much of the PostgreSQL wire protocol as probe needs:
// the SSLRequest, a TLS handshake that verifies the server itself, and the
// first answer to a startup message. Nothing here sends a password.

var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// dialBounded dials addr and bounds every read and write on the
// connection by ctx (its deadline and its cancellation) and by limit.
// control, when not nil, judges each address before the dial
// (core.DialControl).
func dialBounded(ctx context.Context, addr string, limit time.Duration, control func(string, string, syscall.RawConn) error) (net.Conn, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	d := net.Dialer{Control: control}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return c, func() { stop(); cancel() }, nil
}

// What a report shows of a peer's certificates, at most: the text of a
// peer is bounded, so that a fleet of hostile peers costs bounded memory.
const (
	maxChainShown = 8
	maxNamesShown = 32
	maxTextShown  = 256
)

// shown is peer-controlled certificate text as a report shows it:
// escaped, and cut at maxTextShown bytes.
func shown(s string) string {
	if len(s) > maxTextShown {
		s = s[:maxTextShown] + "..."
	}
	return safe(s)
}

// rawTLS asks the server for TLS and completes a handshake that accepts
// any certificate, to show what the server presents; it then verifies the
// chain and the host name itself. On success the TLS connection is
// returned for the authentication check.
func rawTLS(ctx context.Context, addr, host string, roots *x509.CertPool, rootsDesc string, control func(string, string, syscall.RawConn) error) (*tlsReport, net.Conn) {
	r := &tlsReport{Chain: []certJSON{}, Verification: "none", Roots: rootsDesc}
	c, release, err := dialBounded(ctx, addr, 15*time.Second, control)
	if err != nil {
		r.Error = safe(err.Error())
		r.unreachable = !errors.As(err, new(*core.Violation))
		return r, nil
	}
	fail := func(msg string) (*tlsReport, net.Conn) {
		release()
		c.Close()
		r.Error = safe(msg)
		return r, nil
	}
	if _, err := c.Write(sslRequest); err != nil {
		return fail(err.Error())
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		r.unreachable = true // no answer: nothing was learnt of the server
		return fail("no answer to the SSLRequest: " + err.Error())
	}
	if b[0] != 'S' {
		return fail("the server (or something in between) refused TLS")
	}
	r.Offered = true
	cfg := &tls.Config{InsecureSkipVerify: true} // verified below, and only reported
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail("TLS handshake: " + err.Error())
	}
	cs := tc.ConnectionState()
	r.Version, r.Cipher, r.Group = core.TLSVersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), core.GroupName(cs.CurveID)
	r.version, r.curve = cs.Version, cs.CurveID
	for i, cert := range cs.PeerCertificates {
		if i == maxChainShown {
			break // a peer's chain is shown bounded: a fleet holds many
		}
		sum := sha256.Sum256(cert.Raw)
		sans := []string{}
		for _, n := range cert.DNSNames {
			sans = append(sans, shown(n))
		}
		for _, ip := range cert.IPAddresses {
			sans = append(sans, ip.String())
		}
		sans = sans[:min(len(sans), maxNamesShown)]
		r.Chain = append(r.Chain, certJSON{Subject: shown(cert.Subject.String()), Issuer: shown(cert.Issuer.String()), SANs: sans,
			NotAfter: cert.NotAfter.UTC().Format(time.RFC3339), DaysLeft: int(time.Until(cert.NotAfter).Hours() / 24),
			SHA256: strings.ToUpper(hex.EncodeToString(sum[:])), SPKI: core.SPKIHash(cert)})
	}
	if len(cs.PeerCertificates) > 0 {
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if chains, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			v := core.CertificateViolation(addr, err)
			r.Error = v.Reason + ": " + safe(err.Error())
		} else {
			r.ChainOK, r.Verification, r.verified = true, "verify-ca", chains
			if err := cs.PeerCertificates[0].VerifyHostname(host); err != nil {
				r.Error = core.ReasonHostnameMismatch + ": " + safe(err.Error())
			} else {
				r.HostOK, r.Verification = true, "verify-full"
			}
		}
	}
	return r, &releasingConn{Conn: tc, release: release}
}

// hybridTLS asks whether the server can negotiate a hybrid post-quantum
// group: a second handshake that offers only those, over TLS 1.3, and
// sends nothing after it. A server whose default choice was hybrid
// already answered.
func hybridTLS(ctx context.Context, r *tlsReport, addr, host string, control func(string, string, syscall.RawConn) error) {
	if r.Group != "" && core.IsHybridPQ(groupID(r.Group)) {
		r.HybridPQ, r.HybridGroup = true, r.Group
		return
	}
	c, release, err := dialBounded(ctx, addr, 15*time.Second, control)
	if err != nil {
		return
	}
	defer release()
	defer c.Close()
	b := make([]byte, 1)
	if _, err := c.Write(sslRequest); err != nil {
		return
	}
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'S' {
		return
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, CurvePreferences: core.HybridGroups} // nothing is sent on it
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return
	}
	if id := tc.ConnectionState().CurveID; core.IsHybridPQ(id) {
		r.HybridPQ, r.HybridGroup = true, core.GroupName(id)
	}
	tc.Close()
}

// groupID is the hybrid group named name, or 0.
func groupID(name string) tls.CurveID {
	for _, id := range core.HybridGroups {
		if id.String() == name {
			return id
		}
	}
	return 0
}

type releasingConn struct {
	net.Conn
	release func()
}

func (c *releasingConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// startupMessage is a protocol 3.0 StartupMessage.
func startupMessage(user, database string) []byte {
	body := []byte{0, 3, 0, 0}
	for _, kv := range [][2]string{{"user", user}, {"database", database}} {
		if kv[1] != "" {
			body = append(append(append(append(body, kv[0]...), 0), kv[1]...), 0)
		}
	}
	body = append(body, 0)
	msg := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(msg, uint32(4+len(body)))
	return append(msg, body...)
}

// firstReply sends a StartupMessage and reads the server's first message,
// never sending a password.
func firstReply(c net.Conn, user, database string) (typ byte, body []byte, err error) {
	if _, err := c.Write(startupMessage(user, database)); err != nil {
		return 0, nil, err
	}
	head := make([]byte, 5)
	if _, err := io.ReadFull(c, head); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(head[1:]))
	if n < 4 || n > 1<<16 {
		return 0, nil, errors.New("not a PostgreSQL server")
	}
	body = make([]byte, n-4)
	_, err = io.ReadFull(c, body)
	return head[0], body, err
}

var authMethodNames = map[uint32]string{0: "trust (no password)", 2: "kerberos", 3: "cleartext password", 5: "md5", 7: "gss", 9: "sspi", 10: "SASL"}

// authMethods reads which authentication the server asks for.
func authMethods(c net.Conn, user, database string) *authReport {
	typ, body, err := firstReply(c, user, database)
	c.Write([]byte{'X', 0, 0, 0, 4}) // Terminate
	if err != nil {
		return &authReport{Skipped: safe(err.Error())}
	}
	return describeAuth(typ, body)
}

func describeAuth(typ byte, body []byte) *authReport {
	switch {
	case typ == 'E':
		return &authReport{Method: "refused: " + errorMessage(body)}
	case typ != 'R' || len(body) < 4:
		return &authReport{Method: fmt.Sprintf("unexpected message %q", typ)}
	}
	code := binary.BigEndian.Uint32(body)
	a := &authReport{Method: authMethodNames[code]}
	if a.Method == "" {
		a.Method = fmt.Sprintf("method %d", code)
	}
	if code == 10 {
		for _, m := range strings.Split(string(body[4:]), "\x00") {
			if m != "" {
				a.Mechanisms = append(a.Mechanisms, safe(m))
				a.ChannelBinding = a.ChannelBinding || m == "SCRAM-SHA-256-PLUS"
			}
		}
	}
	return a
}

// errorMessage extracts the M field of an ErrorResponse, escaped.
func errorMessage(body []byte) string {
	for _, f := range strings.Split(string(body), "\x00") {
		if strings.HasPrefix(f, "M") {
			return safe(f[1:])
		}
	}
	return "error"
}

// plaintextTest sends a StartupMessage without asking for TLS.
func plaintextTest(ctx context.Context, addr, user, database string, control func(string, string, syscall.RawConn) error) *downgrade {
	c, release, err := dialBounded(ctx, addr, 15*time.Second, control)
	if err != nil {
		return &downgrade{Detail: "could not connect: " + safe(err.Error())}
	}
	defer release()
	defer c.Close()
	typ, body, err := firstReply(c, user, database)
	c.Write([]byte{'X', 0, 0, 0, 4})
	switch {
	case err != nil:
		return &downgrade{Detail: "no answer: " + safe(err.Error())}
	case typ == 'E':
		return &downgrade{Detail: "refused: " + errorMessage(body)}
	case typ == 'R':
		return &downgrade{AcceptsPlaintext: true, Detail: "the server answered a plaintext startup with " + describeAuth(typ, body).Method +
			": it would accept an unencrypted session (add hostssl-only rules to pg_hba.conf)"}
	}
	return &downgrade{Detail: fmt.Sprintf("unexpected message %q", typ)}
}
