package core

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"

	"github.com/securepg/securepg/hooks"
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
	ReasonNoHostName            = "no_host_name"
	ReasonTLSNotEstablished     = "tls_not_established"
	ReasonCertificateUntrusted  = "certificate_untrusted"
	ReasonCertificateExpired    = "certificate_expired"
	ReasonHostnameMismatch      = "hostname_mismatch"
	ReasonPasswordInDSN         = "password_in_dsn"
	ReasonPasswordUnverified    = "password_unverified_server"
	ReasonHostNotAllowed        = "host_not_allowed"
	ReasonNetworkNotAllowed     = "network_not_allowed"
	ReasonSuperuserSession      = "superuser_session"
	ReasonKeyExchangeClassical  = "key_exchange_classical"
	ReasonPinMismatch           = "certificate_pin_mismatch"
)

// Violation is one way a connection falls short of the policy: an error
// naming the host, what is wrong and what to change; never a credential.
type Violation struct {
	Reason string
	Host   string // host:port or socket directory
	Got    string
	Want   string
	Detail string // what is wrong, in a sentence
	Fix    string // what to change
	Err    error  // a safe underlying cause (x509, tls), or nil

	// Hard violations are refused in audit mode too: audit mode never
	// weakens what the DSN itself demands (a certificate check, a TLS
	// minimum).
	Hard bool
}

// Error is Message with the "securepg: " prefix.
func (v *Violation) Error() string { return "securepg: " + v.Message() }

// Message is the violation in a sentence (hooks.Violation.Message).
func (v *Violation) Message() string { return v.Public("").Message() }

// Unwrap returns the cause.
func (v *Violation) Unwrap() error { return v.Err }

// As lets errors.As find a *PolicyError in pgx's own errors, which wrap
// the refusals securepg's hooks returned.
func (v *Violation) As(target any) bool {
	if pe, ok := target.(**hooks.Violation); ok {
		*pe = NewPolicyError(v, 0, "")
		return true
	}
	return false
}

// Is makes errors.Is(err, ErrPolicyViolation) true.
func (v *Violation) Is(target error) bool { return target == hooks.ErrPolicyViolation }

// Evaluate judges a plan against a policy, purely: every violation, in target order.
func Evaluate(plan Plan, p Policy) []*Violation {
	var out []*Violation
	if p.ForbidDSNPassword && plan.DSNPassword {
		host := ""
		if len(plan.Targets) > 0 {
			host = plan.Targets[0].Addr()
		}
		out = append(out, passwordInDSN(host))
	}
	for _, t := range plan.Targets {
		if t.Network == "unix" && !p.AllowUnixSocket {
			out = append(out, unixSocket(t.Addr(), "connections through a unix socket are not allowed (TLS is never used on them)"))
			continue
		}
		if !p.AllowedHosts.Allows(t.Host) { // a socket's host is its directory
			out = append(out, hostNotAllowed(t.Addr(), t.Host, p, len(plan.Targets) > 1))
		}
		if t.Network == "unix" {
			continue
		}
		switch {
		case t.Custom:
			if p.MinSSLMode.NeedsTLS() {
				out = append(out, customTLS(t.Addr(), p))
			}
		case t.Mode < p.MinSSLMode && LoopbackPermit(p, t):
			// The address stage holds every address dialed to loopback.
		case t.Mode < p.MinSSLMode && p.AllowLoopbackPlaintext && t.Network == "tcp" && !t.Custom:
			// An address literal outside loopback: refused at once.
			out = append(out, notLoopback(t, cmp.Or(t.Hostaddr, t.Host), p))
		case t.Mode < p.MinSSLMode:
			out = append(out, modeViolation(t, p))
		case t.NoName:
			out = append(out, noHostName(t.Addr()))
		}
		if len(p.Pins) > 0 && t.Custom { // lib/pq's own TLS: no handshake to match pins against
			v := pinNeedsVerification(t.Addr(), t.Mode, p.pinsFrom())
			v.Got, v.Detail = "sslmode=pqgo-*", "the pins of "+p.pinsFrom()+" are matched only against a chain securepg verified, and sslmode=pqgo-* makes a handshake securepg does not see"
			out = append(out, v)
		} else if len(p.Pins) > 0 && t.Verify() < VerifyCA && !(t.Mode < ModeRequire && LoopbackPermit(p, t)) {
			// No chain is verified, so no pin can match (plaintext to
			// loopback below the minimum is let through without them).
			out = append(out, pinNeedsVerification(t.Addr(), t.Mode, p.pinsFrom()))
		}
		if v := passwordRisk(plan, t, p); v != nil {
			out = append(out, v)
		}
		if t.MaxTLS != 0 && t.MaxTLS < p.MinTLSVersion {
			out = append(out, &Violation{
				Reason: ReasonTLSVersionTooLow, Host: t.Addr(),
				Got: TLSVersionName(t.MaxTLS), Want: TLSVersionName(p.MinTLSVersion),
				Detail: "ssl_max_protocol_version=" + TLSVersionName(t.MaxTLS) + " is below the minimum " + TLSVersionName(p.MinTLSVersion),
				Fix:    "remove ssl_max_protocol_version, or lower " + EnvMinTLSVersion,
			})
		}
		if t.MaxTLS != 0 && t.MaxTLS < tls.VersionTLS13 && p.KeyExchange == KeyExchangeHybridPQ {
			out = append(out, maxBelowTLS13(t.Addr(), t.MaxTLS))
		}
	}
	return out
}

// JudgePlan evaluates plan against p and applies the mode: the refusal
// (nil when the configuration may connect), the violations audit mode lets
// through, and all of them.
func JudgePlan(plan Plan, p Policy) (refusal *Violation, audited, all []*Violation) {
	all = Evaluate(plan, p)
	refusal, audited = p.pass(all)
	return refusal, audited, all
}

// Facts describe one connection attempt, or a live connection, as securepg
// observed it (or sqlmocktest simulates it).
type Facts struct {
	Network  string // "tcp" or "unix"
	Host     string // the DSN's host name for this connection (never an address with credentials)
	Port     uint16
	Mode     SSLMode // the effective sslmode of the host that answered
	ModeFrom string  // Target.ModeFrom
	MinTLS   uint16  // the lowest TLS version this host's configuration accepts

	TLS              bool
	Version          uint16
	CipherSuite      uint16
	CurveID          tls.CurveID           // the negotiated key-exchange group; 0 when not known
	Verify           Verification          // what the handshake proved
	VerifyErr        error                 // the verification the configuration demanded failed
	PeerCertificates []*x509.Certificate   // client-side view, leaf first
	VerifiedChains   [][]*x509.Certificate // the chains verified (leaf to root); nil when none

	PublicCA bool  // verify-ca, and the system roots vouch for the server's certificate too
	Pins     Pins  // the version of the policy's PinFile in force at this handshake
	PinsErr  error // why it cannot be used

	Loopback          bool // the address connected to is loopback, before the dial and after
	LoopbackPlaintext bool // below the minimum sslmode, let through by SECUREPG_ALLOW_LOOPBACK_PLAINTEXT

	Auth           string     // the authentication method used: AuthSCRAMPlus, AuthSCRAM, AuthCert, ...; "" unknown
	ChannelBinding bool       // SCRAM was bound to the TLS channel
	Superuser      string     // is_superuser as the server reported it at startup: "on", "off" or ""
	Role           *RoleFacts // asked only under SECUREPG_FORBID_SUPERUSER; nil when not asked
	Server         *ServerSSL // PostgreSQL's own view from pg_stat_ssl, when queried
}

// ServerSSL is the server's view (pg_stat_ssl) of the TLS of the backend that answered.
type ServerSSL struct {
	SSL     bool
	Version string
	Cipher  string
	Bits    int
	PID     uint32 // the backend's pg_backend_pid()
	// ViaPooler: the backend is not the process the peer named in its
	// BackendKeyData, so a pooler sits between and the row describes its
	// connection, not securepg's. It never changes a judgement.
	ViaPooler bool
}

// Addr is host:port, or the socket directory.
func (f Facts) Addr() string {
	if f.Network == "unix" || f.Port == 0 {
		return f.Host
	}
	return net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port)))
}

// Judge decides, purely, whether a connection with facts f passes policy
// p, and returns every violation, hard ones first.
func Judge(p Policy, f Facts) []*Violation {
	host := f.Addr()
	if f.Network == "unix" {
		if p.AllowUnixSocket {
			return nil
		}
		return []*Violation{unixSocket(host, "the connection went through a unix socket")}
	}
	lp := LoopbackPlaintext(p, f)
	if !f.TLS {
		if !p.MinSSLMode.NeedsTLS() || lp {
			return nil
		}
		return []*Violation{TLSNotEstablished(host, p, "the connection is not encrypted")}
	}
	if f.VerifyErr != nil {
		return []*Violation{CertificateViolation(host, f.VerifyErr)}
	}
	if min := max(p.MinTLSVersion, f.MinTLS); f.Version < min {
		return []*Violation{{Reason: ReasonTLSVersionTooLow, Host: host, Got: TLSVersionName(f.Version), Want: TLSVersionName(min),
			Detail: "the connection uses " + TLSVersionName(f.Version), Hard: true,
			Fix: "enable " + TLSVersionName(min) + " on the server, or lower the minimum"}}
	}
	if f.Verify < p.MinSSLMode.Required() && !lp {
		return []*Violation{unverified(host, f.Verify, p)}
	}
	if p.PinFile != "" && (f.PinsErr != nil || len(f.Pins) == 0) {
		return []*Violation{pinFileUnusable(host, f.PinsErr)}
	}
	if pins := p.pinsAt(&f); len(pins) > 0 && !pins.Match(f.VerifiedChains) {
		return []*Violation{pinMismatch(host, f, p.pinsFrom())}
	}
	if p.KeyExchange == KeyExchangeHybridPQ && !IsHybridPQ(f.CurveID) {
		return []*Violation{classicalKeyExchange(host, f.CurveID)}
	}
	return nil
}

// LoopbackPlaintext reports whether SECUREPG_ALLOW_LOOPBACK_PLAINTEXT
// lets f, a TCP connection to loopback, through below the minimum.
func LoopbackPlaintext(p Policy, f Facts) bool {
	return p.AllowLoopbackPlaintext && f.Loopback && f.Network == "tcp" && f.Mode < p.MinSSLMode
}
