package core

import "fmt"

// SSLMode is a libpq sslmode, ordered from weakest to strongest.
type SSLMode int

// The sslmodes in increasing strength. The zero value is not a mode.
const (
	ModeUnknown SSLMode = iota
	ModeDisable
	ModeAllow
	ModePrefer
	ModeRequire
	ModeVerifyCA
	ModeVerifyFull
)

var sslModeNames = [...]string{
	ModeUnknown:    "unknown",
	ModeDisable:    "disable",
	ModeAllow:      "allow",
	ModePrefer:     "prefer",
	ModeRequire:    "require",
	ModeVerifyCA:   "verify-ca",
	ModeVerifyFull: "verify-full",
}

// String returns the libpq spelling of m.
func (m SSLMode) String() string {
	if m < 0 || int(m) >= len(sslModeNames) {
		return "unknown"
	}
	return sslModeNames[m]
}

// ParseSSLMode parses a libpq sslmode name.
func ParseSSLMode(s string) (SSLMode, error) {
	for m := ModeDisable; m <= ModeVerifyFull; m++ {
		if sslModeNames[m] == s {
			return m, nil
		}
	}
	return ModeUnknown, fmt.Errorf("unknown sslmode %q (want disable, allow, prefer, require, verify-ca or verify-full)", s)
}

// Verification is how much of the server's identity a TLS handshake proved.
type Verification int

// Verification levels in increasing strength.
const (
	VerifyNone Verification = iota // TLS without certificate verification (sslmode=require)
	VerifyCA                       // chain verified against the roots, host name not checked
	VerifyFull                     // chain and host name verified
)

// String names the level as the sslmode that demands it.
func (v Verification) String() string {
	switch v {
	case VerifyCA:
		return "verify-ca"
	case VerifyFull:
		return "verify-full"
	}
	return "none"
}

// Required returns the verification level that a minimum sslmode demands.
func (m SSLMode) Required() Verification {
	switch {
	case m >= ModeVerifyFull:
		return VerifyFull
	case m >= ModeVerifyCA:
		return VerifyCA
	default:
		return VerifyNone
	}
}

// NeedsTLS reports whether a minimum of m forbids plaintext attempts.
func (m SSLMode) NeedsTLS() bool { return m >= ModeRequire }

// rootsFix names where roots can be set, but a policy variable already set.
func rootsFix(p Policy) string {
	if p.RootCert != "" {
		return "sslrootcert"
	}
	return "sslrootcert (or " + EnvSSLRootCert + ")"
}
