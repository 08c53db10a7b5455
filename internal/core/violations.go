package core

import (
	"cmp"
	"crypto/x509"
	"errors"
)

func passwordInDSN(host string) *Violation {
	return &Violation{Reason: ReasonPasswordInDSN, Host: host, Got: "password in DSN", Want: "no password in DSN",
		Detail: "the DSN carries a password, which " + EnvForbidDSNPass + " forbids",
		Fix:    "remove the password from the DSN and supply it through " + EnvPasswordFile + ", PGPASSFILE or a credential provider"}
}

func hostNotAllowed(addr, host string, p Policy, multi bool) *Violation {
	detail := "the configuration names the host " + SafeText(host) + ", outside " + EnvAllowedHosts
	if multi {
		detail += "; a multi-host DSN is refused as a whole"
	}
	return &Violation{Reason: ReasonHostNotAllowed, Host: addr, Got: SafeText(host), Want: p.AllowedHosts.String(),
		Detail: detail, Fix: "connect to an allowed host, or add it to " + EnvAllowedHosts}
}

// NetworkNotAllowed is the refusal of an address, or a peer, outside SECUREPG_ALLOWED_NETWORKS.
func NetworkNotAllowed(host, addr string, p Policy) *Violation {
	return &Violation{Reason: ReasonNetworkNotAllowed, Host: host, Got: SafeText(addr), Want: p.AllowedNetworks.String(),
		Detail: "the address " + SafeText(addr) + " is outside " + EnvAllowedNetworks + "; nothing was sent to it",
		Fix:    "connect through a private endpoint, or add its range to " + EnvAllowedNetworks}
}

// notLoopback: t's sslmode is below the minimum, which only loopback
// addresses may have, and the address to dial is not loopback.
func notLoopback(t Target, addr string, p Policy) *Violation {
	v := modeViolation(t, p)
	v.Detail += "; " + EnvAllowLoopPlain + " permits it only to a loopback address, and the address to dial, " +
		SafeText(addr) + ", is not one; nothing was sent to it"
	v.Fix = "a server that is not on loopback needs sslmode=" + p.MinSSLMode.String() + " or stronger (with sslrootcert, or " + EnvSSLRootCert +
		"); for a sidecar, connect to it on 127.0.0.1 or ::1"
	return v
}

func unixSocket(host, detail string) *Violation {
	return &Violation{Reason: ReasonUnixSocket, Host: host, Got: "unix socket", Want: "tcp", Detail: detail,
		Fix: "set host to a TCP host name, or set " + EnvAllowUnixSocket + "=true"}
}

func customTLS(host string, p Policy) *Violation {
	want := p.MinSSLMode.String()
	return &Violation{Reason: ReasonCustomTLSConfig, Host: host, Got: "custom", Want: want,
		Detail: "lib/pq's sslmode=pqgo-* uses a registered tls.Config that securepg can neither inspect nor verify",
		Fix:    "use sslmode=" + want + " with sslrootcert instead"}
}

func noHostName(host string) *Violation {
	return &Violation{Reason: ReasonNoHostName, Host: host, Got: "hostaddr without host", Want: "a host name", Hard: true,
		Detail: "sslmode=verify-full needs a host name to check the certificate against, and hostaddr alone gives none (libpq refuses this too)",
		Fix:    "set host to the name on the server certificate; hostaddr stays the address dialed"}
}

// TLSNotEstablished: the connection to host did not become TLS (detail says
// how it failed).
func TLSNotEstablished(host string, p Policy, detail string) *Violation {
	return &Violation{Reason: ReasonTLSNotEstablished, Host: host, Got: "plaintext", Want: p.MinSSLMode.String(), Detail: detail,
		Fix: "enable ssl on the server, and check for a proxy that strips TLS"}
}

// TlsVersionTooLow: the server could not agree on min or newer.
func TlsVersionTooLow(host, min string) *Violation {
	return &Violation{Reason: ReasonTLSVersionTooLow, Host: host, Got: "older than " + min, Want: min, Hard: true,
		Detail: "the server does not support " + min + " or newer",
		Fix:    "enable " + min + " on the server, or lower " + EnvMinTLSVersion + " and ssl_min_protocol_version"}
}

// Unvalidated is the refusal of a connection securepg did not validate.
func Unvalidated(p Policy, detail string) *Violation {
	return NotValidated("", p, "unvalidated connection", detail)
}

// NotValidated: a connection or handshake reached the driver without
// securepg's judgement (a bug or a driver change); refused in any mode.
func NotValidated(host string, p Policy, got, detail string) *Violation {
	return &Violation{Reason: ReasonTLSNotEstablished, Host: host, Got: got, Want: p.MinSSLMode.String(), Detail: detail, Hard: true}
}

func unverified(host string, got Verification, p Policy) *Violation {
	reason := ReasonUnverifiedCertificate
	if got == VerifyCA {
		reason = ReasonUnverifiedHostname
	}
	want := p.MinSSLMode.String()
	fix := "set sslmode=" + want
	if p.MinSSLMode >= ModeVerifyCA {
		fix += " and " + rootsFix(p)
	}
	return &Violation{Reason: reason, Host: host, Got: got.String(), Want: want,
		Detail: "the handshake verified " + got.String() + " only", Fix: fix}
}

func modeViolation(t Target, p Policy) *Violation {
	got, want := t.Mode.String(), p.MinSSLMode.String()
	m, ok := modeViolations[t.Mode]
	if !ok {
		m = [2]string{ReasonTLSDisabled, "the sslmode is not recognised"}
	}
	v := &Violation{Reason: m[0], Host: t.Addr(), Got: got, Want: want, Detail: m[1]}
	if w := t.ModeSource; w.Value != "" && t.ModeFrom == "" && !t.Custom {
		// Say where the sslmode came from when the code does not show it
		// (PGSSLMODE, a service file), or what it amounts to.
		where := w.Origin
		if where == "DSN" {
			where = "the DSN"
		}
		switch {
		case w.Value != got:
			v.Detail += " (sslmode=" + w.Value + ", from " + where + ", with root certificates is " + got + ")"
		case w.Origin != "DSN":
			v.Detail += " (sslmode=" + w.Value + ", from " + where + ")"
		}
	}
	if t.ModeFrom == ModeFromDriver {
		// The one thing missing: roots, with which securepg applies the
		// minimum to a configuration that sets no sslmode.
		v.Detail = "the configuration sets no sslmode, and no root certificates are named to verify " + want +
			" with, so the driver's default (" + got + ") stays"
		v.Fix = "set " + EnvSSLRootCert + " to the CA bundle that signs your servers (or to system): a configuration that sets no sslmode then gets " + want
		return v
	}
	fix := "set sslmode=" + want
	if p.MinSSLMode >= ModeVerifyCA && t.RootCA == "" {
		fix += " and " + rootsFix(p)
	}
	v.Fix = fix + ", or lower " + EnvMinSSLMode + " to " + got
	if t.Mode < ModeRequire && !p.AllowLoopbackPlaintext && t.Network == "tcp" && loopbackHost(cmp.Or(t.Hostaddr, t.Host)) {
		v.Fix += "; for a sidecar on this machine, " + EnvAllowLoopPlain + "=true permits plaintext to loopback addresses alone"
	}
	return v
}

// modeViolations are the reason and the detail of each sslmode below a minimum.
var modeViolations = map[SSLMode][2]string{
	ModeDisable:  {ReasonTLSDisabled, "sslmode=disable sends everything, password included, in plaintext"},
	ModeAllow:    {ReasonPlaintextFallback, "sslmode=allow tries plaintext first and uses TLS only if the server insists"},
	ModePrefer:   {ReasonPlaintextFallback, "sslmode=prefer allows a plaintext fallback"},
	ModeRequire:  {ReasonUnverifiedCertificate, "sslmode=require encrypts but does not verify the server certificate"},
	ModeVerifyCA: {ReasonUnverifiedHostname, "sslmode=verify-ca does not check that the certificate belongs to this host"},
}

// CertificateViolation turns a failed verification into a hard Violation
// with the x509 error as its cause.
func CertificateViolation(host string, err error) *Violation {
	v := &Violation{Host: host, Err: err, Got: "rejected certificate", Want: "a certificate the roots vouch for", Hard: true}
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
		v.Fix = "set sslrootcert to the CA that issued the server certificate (the DSN's sslrootcert wins over " + EnvSSLRootCert + ", which applies where the configuration names none)"
	}
	return v
}
