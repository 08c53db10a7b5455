package core

import (
	"crypto/x509"
	"errors"
	"strings"

	"github.com/lib/pq"
)

// CertificateViolation turns a certificate verification failure into a
// Violation that keeps the x509 error as its cause.
func CertificateViolation(host string, err error) *Violation {
	v := &Violation{Host: host, Err: err, Got: "rejected certificate", Want: "a certificate the roots vouch for"}
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &hostErr):
		v.Reason = ReasonHostnameMismatch
		v.Detail = "the server certificate is not valid for this host name"
		v.Fix = "connect with the host name the certificate names, or fix the server certificate"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		v.Reason = ReasonCertificateExpired
		v.Detail = "the server certificate is expired or not yet valid"
		v.Fix = "renew the server certificate"
	default:
		v.Reason = ReasonCertificateUntrusted
		v.Detail = "the server certificate is not signed by a trusted root"
		v.Fix = "set sslrootcert (or " + EnvSSLRootCert + ") to the CA that issued the server certificate"
	}
	return v
}

// ClassifyConnectError finds the policy meaning of a failed connection
// attempt: a Violation raised by securepg during the handshake, a
// certificate failure, a server that refused TLS, or a TLS version below
// the minimum. It returns nil for other failures (network, authentication).
func ClassifyConnectError(err error, host string, p Policy) *Violation {
	if err == nil {
		return nil
	}
	var v *Violation
	if errors.As(err, &v) {
		return v
	}
	if xe := unwrapX509(err); xe != nil {
		return CertificateViolation(host, xe)
	}
	msg := err.Error()
	switch {
	case errors.Is(err, pq.ErrSSLNotSupported), strings.Contains(msg, "server refused TLS connection"):
		return &Violation{Reason: ReasonTLSNotEstablished, Host: host, Got: "plaintext", Want: p.MinSSLMode.String(),
			Detail: "the server (or something in between) refused TLS",
			Fix:    "enable ssl on the server, and check for a proxy that strips TLS"}
	case strings.Contains(msg, "protocol version"):
		return &Violation{Reason: ReasonTLSVersionTooLow, Host: host, Got: "older than " + TLSVersionName(p.MinTLSVersion),
			Want:   TLSVersionName(p.MinTLSVersion),
			Detail: "the server does not support " + TLSVersionName(p.MinTLSVersion) + " or newer",
			Fix:    "raise the server's ssl_min_protocol_version support, or lower " + EnvMinTLSVersion}
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
