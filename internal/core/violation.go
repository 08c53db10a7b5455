package core

import (
	"fmt"
	"strings"
)

// Reason codes: short, stable, and the same in errors, logs and telemetry.
const (
	ReasonTLSDisabled           = "tls_disabled"
	ReasonPlaintextFallback     = "plaintext_fallback"
	ReasonUnverifiedCertificate = "unverified_certificate"
	ReasonUnverifiedHostname    = "unverified_hostname"
	ReasonTLSVersionTooLow      = "tls_version_too_low"
	ReasonUnixSocket            = "unix_socket"
	ReasonCustomTLSConfig       = "custom_tls_config"
	ReasonTLSNotEstablished     = "tls_not_established"
	ReasonCertificateUntrusted  = "certificate_untrusted"
	ReasonCertificateExpired    = "certificate_expired"
	ReasonHostnameMismatch      = "hostname_mismatch"
	ReasonPasswordInDSN         = "password_in_dsn"
)

// Violation is one way a connection falls short of the policy. It is an
// error whose text names the host, what it got, what the policy wants, and
// what to change; it never holds a credential.
type Violation struct {
	Reason string
	Host   string // host:port or socket directory
	Got    string
	Want   string
	Detail string // what is wrong, in a sentence
	Fix    string // what to change
	Err    error  // a safe underlying cause (x509, tls), or nil
}

func (v *Violation) Error() string { return "securepg: " + v.Message() }

// Message is the error text without the "securepg: " prefix.
func (v *Violation) Message() string {
	var b strings.Builder
	if v.Host != "" {
		b.WriteString(v.Host)
		b.WriteString(": ")
	}
	b.WriteString(v.Detail)
	if v.Err != nil {
		b.WriteString(": ")
		b.WriteString(v.Err.Error())
	}
	if v.Fix != "" {
		b.WriteString("; ")
		b.WriteString(v.Fix)
	}
	b.WriteString(" [")
	b.WriteString(v.Reason)
	b.WriteString("]")
	return b.String()
}

func (v *Violation) Unwrap() error { return v.Err }

// Evaluate judges a plan against a policy. It is a pure function: no I/O.
// It returns every violation, in target order.
func Evaluate(plan Plan, p Policy) []*Violation {
	var out []*Violation
	want := p.MinSSLMode.String()
	if p.ForbidDSNPassword && plan.DSNPassword {
		host := ""
		if len(plan.Targets) > 0 {
			host = plan.Targets[0].Addr()
		}
		out = append(out, &Violation{Reason: ReasonPasswordInDSN, Host: host, Got: "password in DSN", Want: "no password in DSN",
			Detail: "the DSN carries a password, which " + EnvForbidDSNPass + " forbids",
			Fix:    "remove the password from the DSN and supply it through " + EnvPasswordFile + ", PGPASSFILE or a credential provider"})
	}
	for _, t := range plan.Targets {
		if t.Network == "unix" {
			if !p.AllowUnixSocket {
				out = append(out, &Violation{
					Reason: ReasonUnixSocket, Host: t.Addr(), Got: "unix socket", Want: "tcp",
					Detail: "connections through a unix socket are not allowed (TLS is never used on them)",
					Fix:    "set host to a TCP host name, or set " + EnvAllowUnixSocket + "=true",
				})
			}
			continue
		}
		if t.Custom && p.MinSSLMode > ModeRequire {
			out = append(out, &Violation{
				Reason: ReasonCustomTLSConfig, Host: t.Addr(), Got: "custom", Want: want,
				Detail: "lib/pq's sslmode=pqgo-* uses a registered tls.Config whose verification securepg cannot inspect",
				Fix:    "use sslmode=" + want + " with sslrootcert instead",
			})
		} else if !t.Custom && t.Mode < p.MinSSLMode {
			out = append(out, modeViolation(t, p))
		}
		if t.MaxTLS != 0 && t.MaxTLS < p.MinTLSVersion {
			out = append(out, &Violation{
				Reason: ReasonTLSVersionTooLow, Host: t.Addr(),
				Got: TLSVersionName(t.MaxTLS), Want: TLSVersionName(p.MinTLSVersion),
				Detail: "ssl_max_protocol_version=" + TLSVersionName(t.MaxTLS) + " is below the minimum " + TLSVersionName(p.MinTLSVersion),
				Fix:    "remove ssl_max_protocol_version, or lower " + EnvMinTLSVersion,
			})
		}
	}
	return out
}

func modeViolation(t Target, p Policy) *Violation {
	got, want := t.Mode.String(), p.MinSSLMode.String()
	v := &Violation{Host: t.Addr(), Got: got, Want: want}
	switch t.Mode {
	case ModeDisable:
		v.Reason = ReasonTLSDisabled
		v.Detail = "sslmode=disable sends everything, password included, in plaintext"
	case ModeAllow:
		v.Reason = ReasonPlaintextFallback
		v.Detail = "sslmode=allow tries plaintext first and uses TLS only if the server insists"
	case ModePrefer:
		v.Reason = ReasonPlaintextFallback
		v.Detail = "sslmode=prefer allows a plaintext fallback"
	case ModeRequire:
		v.Reason = ReasonUnverifiedCertificate
		v.Detail = "sslmode=require encrypts but does not verify the server certificate"
	case ModeVerifyCA:
		v.Reason = ReasonUnverifiedHostname
		v.Detail = "sslmode=verify-ca does not check that the certificate belongs to this host"
	default:
		v.Reason = ReasonTLSDisabled
		v.Detail = "the sslmode is not recognised"
	}
	if t.Note != "" {
		v.Detail += " (" + t.Note + ")"
	}
	fix := "set sslmode=" + want
	if p.MinSSLMode >= ModeVerifyCA {
		fix += " and sslrootcert (or " + EnvSSLRootCert + ")"
	}
	v.Fix = fmt.Sprintf("%s, or lower %s to %s", fix, EnvMinSSLMode, got)
	if t.Note != "" {
		v.Fix = "list the TCP hosts before the unix socket, or connect to the socket with a DSN of its own"
	}
	return v
}

// letThrough returns v in enforce mode; in audit mode it records v for the
// caller to report, and returns nil.
func letThrough(p Policy, v *Violation, rec *Recorder) error {
	if !p.Audit {
		return v
	}
	rec.addViolation(v)
	return nil
}
