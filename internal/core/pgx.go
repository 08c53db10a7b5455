package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PgxConfig is a pgx configuration hardened by a policy. Its TLS configs are
// templates: every Connect clones them (BeforeConnect) and binds the clones'
// VerifyConnection to that Connect's Recorder.
type PgxConfig struct {
	Conn    *pgx.ConnConfig
	entries []pgxEntry // parallel to [primary] + Conn.Fallbacks
	policy  Policy
}

type pgxEntry struct {
	host   string
	port   uint16
	tls    bool
	verify Verification
	mode   SSLMode
	minTLS uint16
	roots  *x509.CertPool // the roots our VerifyConnection checks against (nil = system)
	name   string         // the host name verify-full checks the certificate against
}

// PreparePgx parses dsn with pgx's own parser (so PG* variables, service
// files, defaults and fallbacks are exactly what pgx will use), hardens the
// result for p, and returns it with the plan to evaluate.
func PreparePgx(dsn string, p Policy) (*PgxConfig, Plan, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, Plan{}, ParseError(DriverPgx, dsn, err)
	}
	pc, plan, err := hardenPgx(cc, p)
	if err == nil {
		plan.User, plan.Database, plan.DSNPassword = cc.User, cc.Database, DSNHasPassword(dsn)
	}
	return pc, plan, err
}

func hardenPgx(cc *pgx.ConnConfig, p Policy) (*PgxConfig, Plan, error) {
	// pgx does not know ssl_min/max_protocol_version: it would send them to
	// the server as run-time settings, which fail there. Honour them as libpq
	// does, on the client.
	var dsnMin, dsnMax uint16
	for _, k := range []string{"ssl_min_protocol_version", "ssl_max_protocol_version"} {
		v, ok := cc.RuntimeParams[k]
		if !ok {
			continue
		}
		ver, ok := ParseTLSVersionName(v)
		if !ok {
			return nil, Plan{}, errors.New("securepg: invalid " + k + ": want TLSv1.2 or TLSv1.3")
		}
		if k == "ssl_min_protocol_version" {
			dsnMin = ver
		} else {
			dsnMax = ver
		}
		delete(cc.RuntimeParams, k)
	}
	minTLS := max(p.MinTLSVersion, dsnMin)

	fbs := append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port, TLSConfig: cc.TLSConfig}}, cc.Fallbacks...)
	entries := make([]pgxEntry, len(fbs))
	plan := Plan{Driver: DriverPgx}

	// Group the attempts per host the way pgx lays them out: prefer is
	// [tls, plain], allow is [plain, tls], anything else one attempt.
	for i := 0; i < len(fbs); {
		n := 1
		if i+1 < len(fbs) && sameHost(fbs[i], fbs[i+1]) && (fbs[i].TLSConfig == nil) != (fbs[i+1].TLSConfig == nil) {
			n = 2
		}
		group := fbs[i : i+n]
		network, _ := pgconn.NetworkAddress(group[0].Host, group[0].Port)
		t := Target{Host: group[0].Host, Port: group[0].Port, Network: network, MinTLS: minTLS, MaxTLS: dsnMax}
		for j, fb := range group {
			e := pgxEntry{host: fb.Host, port: fb.Port, minTLS: minTLS}
			if fb.TLSConfig != nil {
				e.tls = true
				tc := fb.TLSConfig.Clone()
				upgrade := n == 1 && p.Roots() != nil && p.RootCert != "system" && tc.RootCAs == nil
				t.RootCA, t.ClientCert = describeTLS(tc, p)
				if tc.RootCAs == nil && p.Roots() != nil {
					tc.RootCAs = p.Roots()
				}
				if len(tc.Certificates) == 0 && tc.GetClientCertificate == nil && p.ClientCertificate() != nil {
					tc.Certificates = []tls.Certificate{*p.ClientCertificate()}
				}
				tc.MinVersion = minTLS
				if dsnMax != 0 {
					tc.MaxVersion = dsnMax
				}
				// securepg verifies the chain (and, for verify-full, the host
				// name) itself in VerifyConnection, with the hardened roots:
				// pgx's verify-ca callback would use the roots it captured at
				// parse time, and crypto/tls's own failure would not say which
				// host it was.
				switch {
				case !tc.InsecureSkipVerify:
					e.verify = VerifyFull
					e.name = tc.ServerName
					if e.name == "" {
						e.name = fb.Host
					}
				case tc.VerifyPeerCertificate != nil || upgrade:
					e.verify = VerifyCA
				default:
					e.verify = VerifyNone
				}
				e.roots = tc.RootCAs
				tc.InsecureSkipVerify = true
				tc.VerifyPeerCertificate = nil
				fb.TLSConfig = tc
			}
			entries[i+j] = e
			t.Attempts = append(t.Attempts, Attempt{TLS: e.tls, Verify: e.verify})
		}
		t.Mode = ModeFromAttempts(t.Attempts)
		for j := range group {
			entries[i+j].mode = t.Mode
		}
		plan.Targets = append(plan.Targets, t)
		i += n
	}

	cc.Host, cc.Port, cc.TLSConfig = fbs[0].Host, fbs[0].Port, fbs[0].TLSConfig
	cc.Fallbacks = fbs[1:]
	return &PgxConfig{Conn: cc, entries: entries, policy: p}, plan, nil
}

func sameHost(a, b *pgconn.FallbackConfig) bool { return a.Host == b.Host && a.Port == b.Port }

func describeTLS(tc *tls.Config, p Policy) (root, cert string) {
	switch {
	case tc.RootCAs != nil:
		root = "sslrootcert"
	case p.RootCert != "":
		root = p.Sources[EnvSSLRootCert] + "=" + p.RootCert
	case !tc.InsecureSkipVerify || tc.VerifyPeerCertificate != nil:
		root = "system"
	}
	switch {
	case len(tc.Certificates) > 0 || tc.GetClientCertificate != nil:
		cert = "sslcert"
	case p.ClientCert != "":
		cert = p.Sources[EnvSSLCert] + "=" + p.ClientCert
	}
	return root, cert
}

// BeforeConnect gives one Connect call its own clones of the TLS templates,
// whose VerifyConnection validates each handshake before any PostgreSQL
// byte is exchanged and records it in the context's Recorder. It has the
// signature of stdlib.OptionBeforeConnect.
func (c *PgxConfig) BeforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	rec := recorderFrom(ctx)
	if user, password, ok := CredentialsFrom(ctx); ok {
		if user != "" {
			cc.User = user
		}
		cc.Password = password
	}
	cc.TLSConfig = c.bind(cc.TLSConfig, c.entries[0], rec)
	fbs := make([]*pgconn.FallbackConfig, len(cc.Fallbacks))
	for i, fb := range cc.Fallbacks {
		fbs[i] = &pgconn.FallbackConfig{Host: fb.Host, Port: fb.Port, TLSConfig: c.bind(fb.TLSConfig, c.entries[i+1], rec)}
	}
	cc.Fallbacks = fbs
	if dial := cc.DialFunc; dial != nil && rec != nil {
		cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			rec.addDial(network, addr)
			return dial(ctx, network, addr)
		}
	}
	return nil
}

func (c *PgxConfig) bind(tmpl *tls.Config, e pgxEntry, rec *Recorder) *tls.Config {
	if tmpl == nil {
		return nil
	}
	tc := tmpl.Clone()
	audit := c.policy.Audit
	required := c.policy.MinSSLMode.Required()
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		host := net.JoinHostPort(e.host, itoa(e.port))
		if len(cs.PeerCertificates) == 0 {
			return &Violation{Reason: ReasonCertificateUntrusted, Host: host, Got: "no certificate", Want: c.policy.MinSSLMode.String(),
				Detail: "the server sent no certificate"}
		}
		if e.verify >= VerifyCA {
			if err := verifyChain(cs.PeerCertificates, e.roots, e.name); err != nil {
				return CertificateViolation(host, err)
			}
		}
		if cs.Version < e.minTLS {
			return &Violation{Reason: ReasonTLSVersionTooLow, Host: host, Got: TLSVersionName(cs.Version), Want: TLSVersionName(e.minTLS),
				Detail: "the server negotiated " + TLSVersionName(cs.Version)}
		}
		if e.verify < required {
			v := &Violation{Reason: verifyReason(e.verify), Host: host, Got: e.verify.String(), Want: c.policy.MinSSLMode.String(),
				Detail: "the handshake verified " + e.verify.String() + " only"}
			if !audit {
				return v
			}
			rec.addViolation(v)
		}
		rec.addHandshake(handshake{leaf: cs.PeerCertificates[0], host: e.host, port: e.port, mode: e.mode, verify: e.verify})
		return nil
	}
	return tc
}

func verifyReason(v Verification) string {
	if v == VerifyCA {
		return ReasonUnverifiedHostname
	}
	return ReasonUnverifiedCertificate
}

// verifyChain checks certs (leaf first) against roots (nil = system) and,
// when dnsName is set, the leaf's host name.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, dnsName string) error {
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), DNSName: dnsName}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(opts)
	return err
}

// ValidatePgx proves that a new pgx connection is what the policy demands,
// from the client's own TLS state: no round trip. Violations that audit mode
// lets through are returned with ok facts; a refusal returns a Violation as
// the error.
func (c *PgxConfig) ValidatePgx(sc *stdlib.Conn, rec *Recorder) (Facts, error) {
	nc := sc.Conn().PgConn().Conn()
	return c.validateNetConn(nc, rec)
}

func (c *PgxConfig) validateNetConn(nc net.Conn, rec *Recorder) (Facts, error) {
	p := c.policy
	remote := nc.RemoteAddr()
	tc, ok := nc.(*tls.Conn)
	if !ok {
		if remote != nil && remote.Network() == "unix" {
			f := Facts{Network: "unix", Host: remote.String(), Mode: ModeDisable}
			if p.AllowUnixSocket {
				return f, nil
			}
			v := &Violation{Reason: ReasonUnixSocket, Host: remote.String(), Got: "unix socket", Want: "tcp",
				Detail: "the connection went through a unix socket", Fix: "set " + EnvAllowUnixSocket + "=true to allow it"}
			return f, letThrough(c.policy, v, rec)
		}
		host := ""
		if remote != nil {
			host = remote.String()
		}
		f := Facts{Network: "tcp", Host: host, Mode: ModeDisable}
		v := &Violation{Reason: ReasonTLSNotEstablished, Host: host, Got: "plaintext", Want: p.MinSSLMode.String(),
			Detail: "the connection is not encrypted"}
		if !p.MinSSLMode.NeedsTLS() {
			return f, nil
		}
		return f, letThrough(c.policy, v, rec)
	}
	cs := tc.ConnectionState()
	f := stateFacts(cs)
	f.Network = "tcp"
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return f, &Violation{Reason: ReasonTLSNotEstablished, Host: remote.String(), Got: "incomplete handshake", Want: p.MinSSLMode.String(),
			Detail: "the TLS handshake did not complete"}
	}
	h, ok := rec.findHandshake(cs.PeerCertificates[0])
	if !ok {
		return f, &Violation{Reason: ReasonTLSNotEstablished, Host: remote.String(), Got: "unvalidated handshake", Want: p.MinSSLMode.String(),
			Detail: "the TLS handshake was not validated by securepg"}
	}
	f.Host, f.Port, f.Mode, f.Verify = h.host, h.port, h.mode, h.verify
	host := net.JoinHostPort(h.host, itoa(h.port))
	if cs.Version < p.MinTLSVersion {
		return f, &Violation{Reason: ReasonTLSVersionTooLow, Host: host, Got: TLSVersionName(cs.Version), Want: TLSVersionName(p.MinTLSVersion),
			Detail: "the connection uses " + TLSVersionName(cs.Version)}
	}
	if f.Verify < p.MinSSLMode.Required() && !p.Audit {
		return f, &Violation{Reason: verifyReason(f.Verify), Host: host, Got: f.Verify.String(), Want: p.MinSSLMode.String(),
			Detail: "the handshake verified " + f.Verify.String() + " only"}
	}
	return f, nil
}

func itoa(n uint16) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
