package core

import (
	"crypto/x509"
	"errors"
	"strings"
)

// ClassifyConnectError finds the policy meaning of a failed connection (a
// Violation, a certificate failure, a server that refused TLS, a TLS
// version below the minimum of last, the host last tried), or nil.
func ClassifyConnectError(err error, last Target, p Policy) *Violation {
	if err == nil {
		return nil
	}
	var v *Violation
	if errors.As(err, &v) {
		return v
	}
	host := last.Addr()
	if last.Host == "" && last.Hostaddr == "" {
		host = ""
	}
	if xe := unwrapX509(err); xe != nil {
		return CertificateViolation(host, xe)
	}
	msg := err.Error()
	switch {
	case p.OffersOnlyHybrid() && HandshakeRefused(err):
		return NoHybridKeyExchange(host, err)
	case strings.Contains(msg, "server refused TLS connection"):
		return TLSNotEstablished(host, p, "the server (or something in between) refused TLS")
	case strings.Contains(msg, "protocol version") && strings.Contains(msg, "tls"):
		min := TLSVersionName(max(p.MinTLSVersion, last.MinTLS))
		return TlsVersionTooLow(host, min)
	}
	return nil
}

// unwrapX509 returns the x509 verification error inside err, whose text
// names the certificate problem without any connection details, or nil.
func unwrapX509(err error) error {
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &hostErr):
		return hostErr
	case errors.As(err, &invalid):
		return invalid
	case errors.As(err, &unknown):
		return unknown
	}
	return nil
}
