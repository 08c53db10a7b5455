package core

import (
	"bytes"
	"context"
	"crypto/tls"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// liftPgx applies the policy's minimum to the hosts of a configuration
// that sets no sslmode, where pgx's default prefer lays out a TLS attempt
// and a plaintext one: the plaintext one goes, and the TLS one verifies as
// the minimum demands. from tells, per kept attempt, who chose its mode.
// direct: sslnegotiation=direct, under which pgx turns the default prefer
// into one require attempt, lifted the same way.
func liftPgx(fbs []*pgconn.FallbackConfig, p Policy, direct bool) ([]*pgconn.FallbackConfig, map[*pgconn.FallbackConfig]string) {
	from := make(map[*pgconn.FallbackConfig]string, len(fbs))
	if p.MinSSLMode <= ModePrefer {
		return fbs, from
	}
	out := make([]*pgconn.FallbackConfig, 0, len(fbs))
	for i := 0; i < len(fbs); i++ {
		fb := fbs[i]
		prefer := i+1 < len(fbs) && sameHost(fb, fbs[i+1]) && fb.TLSConfig != nil && fbs[i+1].TLSConfig == nil &&
			fb.TLSConfig.InsecureSkipVerify
		// direct: pgx's require (or, with sslrootcert, verify-ca) in place
		// of prefer; sslrootcert=system already verifies the host name.
		lone := direct && !prefer && fb.TLSConfig != nil && fb.TLSConfig.InsecureSkipVerify
		out = append(out, fb)
		if !prefer && !lone {
			continue
		}
		from[fb] = ModeFromPolicy
		if p.MinSSLMode >= ModeVerifyCA && fb.TLSConfig.RootCAs == nil && p.Roots() == nil {
			from[fb] = ModeFromDriver // no roots to verify with: kept, and judged, as pgx's
			if prefer {
				out = append(out, fbs[i+1])
			}
		}
		if prefer {
			i++
		}
	}
	return out, from
}

// dropSNI honours sslsni=0, which pgx v5.12 ignores under verify-full (it
// sets ServerName, and so SNI, to verify the host name). securepg
// verifies the name itself (TLSAuth.Name), so none need be sent.
func dropSNI(cc *pgx.ConnConfig) {
	if cc.TLSConfig != nil {
		cc.TLSConfig.ServerName = ""
	}
	for _, fb := range cc.Fallbacks {
		if fb.TLSConfig != nil {
			fb.TLSConfig.ServerName = ""
		}
	}
}

// describeTLS says where tc's roots and client certificate come from.
func describeTLS(tc *tls.Config, p Policy) (root string, rootPolicy bool, cert string, certPolicy bool) {
	switch {
	case tc.RootCAs != nil:
		root = "sslrootcert"
	case p.RootCert != "":
		root, rootPolicy = p.RootCert, true
	case !tc.InsecureSkipVerify || tc.VerifyPeerCertificate != nil:
		root = "system"
	}
	switch {
	case len(tc.Certificates) > 0 || tc.GetClientCertificate != nil:
		cert = "sslcert"
	case p.ClientCert != "":
		cert, certPolicy = p.ClientCert, true
	}
	return root, rootPolicy, cert, certPolicy
}

// clientCertificate sends m's current certificate when the server asks for
// one it accepts. It runs after VerifyConnection, so a client
// certificate never reaches an unverified server.
func clientCertificate(m *Material[*tls.Certificate]) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c, err := m.Get(cri.Context())
		if err != nil {
			return nil, err
		}
		if c == nil || cri.SupportsCertificate(c) != nil {
			return &tls.Certificate{}, nil // no acceptable certificate: send none
		}
		return c, nil
	}
}

// keyFiles is the key material pgx read from files at parse time, as
// material that follows the files (pgx reads them only when it parses).
// Nil fields: nothing from a file.
type keyFiles struct {
	roots *Material[*Roots]
	cert  *Material[*tls.Certificate]
}

// pgxFiles finds the files behind the key material pgx parsed into cc's
// TLS configuration, as material that follows them. One whose content is
// not what pgx parsed stays what pgx parsed: rotation follows only a file
// securepg knows pgx read.
func pgxFiles(cc *pgx.ConnConfig, p Policy, src map[string]Source) keyFiles {
	var kf keyFiles
	tc := cc.TLSConfig
	if i := slices.IndexFunc(cc.Fallbacks, func(fb *pgconn.FallbackConfig) bool { return fb.TLSConfig != nil }); tc == nil && i >= 0 {
		tc = cc.Fallbacks[i].TLSConfig
	}
	if tc == nil {
		return kf
	}
	ctx := context.Background()
	if path := src["sslrootcert"].Value; tc.RootCAs != nil && path != "" && path != "system" {
		m := Watched(p, NewMaterial("root certificates", ParseRoots, path))
		if m.Load(ctx) == nil && m.val.Pool.Equal(tc.RootCAs) {
			kf.roots = m
		}
	}
	cert, key := src["sslcert"].Value, src["sslkey"].Value
	if len(tc.Certificates) == 1 && cert != "" && key != "" {
		m := Watched(p, NewMaterial("client certificate", parsePgxKeyPair, cert, key))
		if m.Load(ctx) == nil && slices.EqualFunc(m.val.Certificate, tc.Certificates[0].Certificate, bytes.Equal) {
			kf.cert = m
		}
	}
	return kf
}
