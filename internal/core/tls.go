package core

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"sync"
)

// TLSAuth is how the TLS attempts to one host verify the server: the
// level, the roots, the name. securepg verifies every handshake itself, in
// VerifyConnection, before any PostgreSQL byte (user name, password or
// client certificate) is sent.
type TLSAuth struct {
	Level  Verification
	Roots  *Material[*Roots] // nil: the system roots (or later's)
	Name   string            // the name verify-full checks
	MinTLS uint16            // the lowest version the configuration accepts

	// Later is a root file that did not exist at sql.Open, which lib/pq
	// would use once it appears: it can only make verification stronger
	// than what was judged (require becomes verify-ca).
	Later *Material[*Roots]

	// Pins is the policy's pin file, or nil: each handshake reads its
	// current version into Facts.Pins.
	Pins *Material[Pins]
}

var errNoCertificate = errors.New("the server sent no certificate")

// withHandshake is an attempt's facts f with what observe learnt (h).
func (f Facts) withHandshake(h Facts) Facts {
	f.TLS, f.Version, f.CipherSuite, f.CurveID, f.PeerCertificates = true, h.Version, h.CipherSuite, h.CurveID, h.PeerCertificates
	f.Verify, f.VerifyErr, f.PublicCA, f.VerifiedChains, f.Pins, f.PinsErr = h.Verify, h.VerifyErr, h.PublicCA, h.VerifiedChains, h.Pins, h.PinsErr
	return f
}

// observe verifies a completed handshake as the configuration demands and
// returns what it proved. A failed verification is in VerifyErr.
func (a *TLSAuth) observe(ctx context.Context, cs tls.ConnectionState) Facts {
	f := Facts{TLS: true, Version: cs.Version, CipherSuite: cs.CipherSuite, CurveID: cs.CurveID, PeerCertificates: cs.PeerCertificates,
		MinTLS: a.MinTLS, Verify: VerifyNone}
	if a.Pins != nil {
		f.Pins, f.PinsErr = a.Pins.Get(ctx)
	}
	if len(cs.PeerCertificates) == 0 {
		f.VerifyErr = errNoCertificate
		return f
	}
	level, m := a.Level, cmp.Or(a.Roots, a.Later) // the file-backed roots, or nil
	var roots *Roots
	if m != nil {
		var err error
		if roots, err = m.Get(ctx); err != nil {
			f.VerifyErr = err
			return f
		}
		if a.Roots == nil && roots != nil {
			level = max(level, VerifyCA)
		}
	}
	if level == VerifyNone {
		return f
	}
	name := ""
	if level == VerifyFull {
		if name = a.Name; name == "" {
			f.VerifyErr = errors.New("no host name to check the certificate against")
			return f
		}
	}
	chains, err := verifyChain(cs.PeerCertificates, roots.pool(), name)
	if err != nil && m != nil {
		// The CA bundle may have rotated since it was last looked at:
		// look again, and verify once more if it changed.
		if fresh, ferr := m.Refresh(ctx); ferr == nil && fresh != nil && fresh != roots {
			if c, verr := verifyChain(cs.PeerCertificates, fresh.Pool, name); verr == nil {
				chains, roots, err = c, fresh, nil
			}
		}
	}
	if err != nil {
		f.VerifyErr = err
		return f
	}
	f.Verify, f.VerifiedChains = level, chains
	if a.Pins != nil && f.PinsErr == nil && !f.Pins.Match(chains) {
		// The pin file may have rotated (a new key's pin added): look again.
		f.Pins, f.PinsErr = a.Pins.Refresh(ctx)
	}
	if level == VerifyCA {
		// A certificate the system roots vouch for, or a root file that
		// holds a public CA: a public CA signs an attacker's own name.
		_, err := verifyChain(cs.PeerCertificates, nil, "")
		f.PublicCA = roots != nil && roots.Public || err == nil
	}
	return f
}

// pool is the pool to verify with: nil, the system roots, for nil.
func (r *Roots) pool() *x509.CertPool {
	if r == nil {
		return nil
	}
	return r.Pool
}

// verifyChain checks certs (leaf first) against roots (nil = system) and,
// when dnsName is set, the leaf's host name (or IP address), and returns
// the verified chains (leaf to root).
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, dnsName string) ([][]*x509.Certificate, error) {
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), DNSName: dnsName}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	return certs[0].Verify(opts)
}

// ClientTLS is everything securepg needs to make the TLS handshakes of one
// lib/pq host itself.
type ClientTLS struct {
	auth   TLSAuth
	sni    string // "" sends no server name
	direct bool   // sslnegotiation=direct: ALPN "postgresql", no SSLRequest
	maxTLS uint16
	cert   *Material[*tls.Certificate] // nil: no client certificate
	chain  [][]byte                    // intermediates sent after the client certificate

	hybridOnly bool // offer only the hybrid post-quantum groups, over TLS 1.3 (Policy.OffersOnlyHybrid)
}

// NewClientTLS is the TLS of the attempts to one host, with the fields of
// ClientTLS: sni "" sends none, maxTLS 0 caps nothing, cert nil sends none.
func NewClientTLS(auth TLSAuth, sni string, direct bool, maxTLS uint16, cert *Material[*tls.Certificate], chain [][]byte, hybridOnly bool) *ClientTLS {
	return &ClientTLS{auth: auth, sni: sni, direct: direct, maxTLS: maxTLS, cert: cert, chain: chain, hybridOnly: hybridOnly}
}

// Auth is how c verifies the server.
func (c *ClientTLS) Auth() *TLSAuth { return &c.auth }

// ClientCert is the client certificate c sends, or nil.
func (c *ClientTLS) ClientCert() *Material[*tls.Certificate] { return c.cert }

// config is the tls.Config of one handshake: securepg verifies in
// VerifyConnection, where judge decides whether the handshake completes.
func (c *ClientTLS) config(ctx context.Context, judge func(Facts) error) *tls.Config {
	cfg := &tls.Config{
		InsecureSkipVerify: true, // verified below, as the configuration demands
		ServerName:         c.sni,
		MinVersion:         c.auth.MinTLS,
		MaxVersion:         c.maxTLS,
		Renegotiation:      tls.RenegotiateFreelyAsClient, // as lib/pq; Go refuses a changed identity
		VerifyConnection: func(cs tls.ConnectionState) error {
			return judge(c.auth.observe(ctx, cs))
		},
	}
	restrictGroups(cfg, c.hybridOnly)
	if c.direct {
		cfg.NextProtos = []string{"postgresql"}
	}
	if c.cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := c.cert.Get(ctx)
			if err != nil || cert == nil {
				return &tls.Certificate{}, err
			}
			out := *cert
			out.Certificate = append(append([][]byte(nil), cert.Certificate...), c.chain...)
			return &out, nil
		}
	}
	return cfg
}

// ServerName is what SNI carries: host names, never IP addresses (RFC 6066).
func ServerName(host string) string {
	if host == "" || net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// PublicRoots reports whether a root bundle holds a certificate that the
// system's roots vouch for. verify-ca against it proves no identity (any
// public CA signs an attacker's own name), as sslrootcert=system would not.
//
// Its cost is linear in the file: each certificate is verified against
// the system roots alone, at most a few signature checks each (one per
// system root of its issuer's name). Verifying each with the file's other
// certificates as intermediates gives the same answer (see anyPublic) but
// lets x509 try every same-name pair: up to 100 signature checks per
// certificate, 17 s for a 1 MiB file.
func PublicRoots(pemData []byte) bool {
	system, err := systemRoots()
	if err != nil {
		return false
	}
	return anyPublic(pemCertificates(pemData), system, verifyOnly)
}

// pemCertificates is every certificate of a PEM bundle that parses.
func pemCertificates(pemData []byte) []*x509.Certificate {
	var certs []*x509.Certificate
	for len(pemData) > 0 {
		var block *pem.Block
		if block, pemData = pem.Decode(pemData); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
	return certs
}

// verifyFunc verifies c with opts, as x509 does: tests count the calls.
type verifyFunc func(c *x509.Certificate, opts x509.VerifyOptions) error

func verifyOnly(c *x509.Certificate, opts x509.VerifyOptions) error {
	_, err := c.Verify(opts)
	return err
}

// anyPublic reports whether one of certs verifies against the system
// roots, with no intermediates: each call makes at most one signature
// check per system root named as its issuer, whatever the file holds.
//
// That is the same answer as allowing the file's certificates as
// intermediates: a chain c → … → i → root through file certificates ends
// in a file certificate i that the root signed, and the chain [i, root]
// passes every check the longer chain passed (validity, critical
// extensions, path lengths, name constraints and policies of the same
// certificates, fewer of them), so i verifies alone. Conversely a
// certificate that verifies alone verifies with intermediates too.
//
// Fail closed: a verification that gave up (x509's signature-check limit,
// reached only by a system store with over 100 roots of one name) counts
// as public. A false "not public" would let verify-ca against a public CA
// stand for an identity, and the password protection rely on it.
func anyPublic(certs []*x509.Certificate, system *x509.CertPool, verify verifyFunc) bool {
	opts := x509.VerifyOptions{Roots: system, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, c := range certs {
		if err := verify(c, opts); err == nil || gaveUp(err) {
			return true
		}
	}
	return false
}

// gaveUp tells x509's signature-check limit (an unexported error, known
// only by its text) from a verdict on the certificate.
func gaveUp(err error) bool {
	return strings.Contains(err.Error(), "signature check attempts limit")
}

// systemRoots is the system's root store, read once: x509.SystemCertPool
// returns a new copy at every call. Only ever read, never added to.
var systemRoots = sync.OnceValues(x509.SystemCertPool)

// rootsCacheSize is how many bundle versions parsedRoots keeps.
const rootsCacheSize = 16

// parsedRoots holds the bundles last parsed, by the SHA-256 of their
// content; the oldest goes first.
var parsedRoots struct {
	sync.Mutex
	m     map[[32]byte]*Roots
	order [][32]byte
}

// cachedRoots returns pem parsed by parse, once per content however many
// hosts or connectors name it. A failed parse is not kept.
func cachedRoots(pem []byte, parse func([]byte) (*Roots, error)) (*Roots, error) {
	sum := sha256.Sum256(pem)
	parsedRoots.Lock()
	r := parsedRoots.m[sum]
	parsedRoots.Unlock()
	if r != nil {
		return r, nil
	}
	r, err := parse(pem)
	if err != nil {
		return nil, err
	}
	parsedRoots.Lock()
	defer parsedRoots.Unlock()
	if old := parsedRoots.m[sum]; old != nil {
		return old, nil // parsed meanwhile by another connect
	}
	if parsedRoots.m == nil {
		parsedRoots.m = map[[32]byte]*Roots{}
	}
	if len(parsedRoots.order) == rootsCacheSize {
		delete(parsedRoots.m, parsedRoots.order[0])
		parsedRoots.order = parsedRoots.order[1:]
	}
	parsedRoots.m[sum] = r
	parsedRoots.order = append(parsedRoots.order, sum)
	return r, nil
}
