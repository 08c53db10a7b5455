package core

import "strings"

// The password protection (SECUREPG_ALLOW_UNVERIFIED_PASSWORD), for
// Evaluate and for the backends' authentication watch.

// PasswordProtected reports whether the password protection covers the
// TLS attempts of t under p: a policy that requires TLS, and a server
// whose identity those attempts do not verify (sslmode=require, or
// verify-ca against public roots).
func PasswordProtected(p Policy, t Target) bool {
	if p.UnverifiedPassword == PasswordAny || !p.MinSSLMode.NeedsTLS() || t.Network == "unix" || t.Custom {
		return false
	}
	if LoopbackPermit(p, t) {
		return true // below the minimum on loopback: nothing is verified, nor can plaintext bind
	}
	for _, a := range t.Attempts {
		if a.TLS {
			return !t.IdentityVerified()
		}
	}
	return false
}

// PasswordRule says what the password protection allows on t's TLS
// attempts under p, for check and probe: "any" and why when it does not
// apply, else what a password may go through.
func PasswordRule(plan Plan, p Policy, t Target) string {
	switch {
	case t.Network == "unix" || t.Custom:
		return "any"
	case p.UnverifiedPassword == PasswordAny:
		return "any (" + p.Sources[EnvAllowUnverPass] + ")"
	case !p.MinSSLMode.NeedsTLS():
		return "any (the policy allows plaintext)"
	case t.Mode < p.MinSSLMode && !LoopbackPermit(p, t) && !p.Audit:
		return "none (the connection itself is refused: sslmode " + t.Mode.String() + " is below the policy)"
	case !PasswordProtected(p, t):
		return "any (the server is verified)"
	case LoopbackPermit(p, t) && p.UnverifiedPassword == PasswordBound && t.HasPlaintext():
		return "none (plaintext to loopback cannot bind SCRAM to TLS; " + EnvAllowUnverPass + "=scram accepts SCRAM-SHA-256)"
	case p.UnverifiedPassword == PasswordSCRAM && weakForSCRAM(plan.WeakAuth):
		return "none (" + SafeText(plan.WeakAuth) + ")"
	case p.UnverifiedPassword == PasswordSCRAM && LoopbackPermit(p, t) && !t.IdentityVerified():
		return "SCRAM-SHA-256 only (" + EnvAllowLoopPlain + ": loopback, unverified)"
	case p.UnverifiedPassword == PasswordSCRAM && plan.Driver == DriverPQ:
		return "SCRAM-SHA-256 only, never bound to TLS (lib/pq cannot bind; " + p.Sources[EnvAllowUnverPass] + "=scram: a relayed login remains possible)"
	case p.UnverifiedPassword == PasswordSCRAM:
		return "SCRAM-SHA-256 only, bound to TLS where the server offers it (" + p.Sources[EnvAllowUnverPass] + "=scram: a relayed login remains possible)"
	case plan.Driver == DriverPQ:
		return "none (lib/pq cannot bind SCRAM to TLS)"
	case plan.WeakAuth != "":
		return "none (" + SafeText(plan.WeakAuth) + ")"
	}
	return "SCRAM-SHA-256-PLUS only"
}

// PasswordProtectedConn is PasswordProtected for a handshake that was
// made: under verify-ca, a server certificate that the system roots vouch
// for proves no identity, whatever the root file holds.
func PasswordProtectedConn(p Policy, t Target, f Facts) bool {
	if PasswordProtected(p, t) {
		return true
	}
	if p.UnverifiedPassword == PasswordAny {
		return false
	}
	return LoopbackPlaintext(p, f) || f.PublicCA && f.Verify == VerifyCA && p.MinSSLMode.NeedsTLS() && t.Network != "unix" && !t.Custom
}

// passwordRisk is the configuration's violation of the password
// protection for t: a password securepg knows of, and a driver that
// cannot honour it (lib/pq), or a configuration that weakens it (pgx).
func passwordRisk(plan Plan, t Target, p Policy) *Violation {
	if !plan.Password && !t.Passfile && p.PasswordFile == "" || !PasswordProtected(p, t) {
		return nil
	}
	switch {
	case LoopbackPermit(p, t) && p.UnverifiedPassword == PasswordBound && t.HasPlaintext():
		return plaintextPassword(t.Addr())
	case p.UnverifiedPassword == PasswordSCRAM:
		// The authentication watch refuses anything but SCRAM-SHA-256.
		if weakForSCRAM(plan.WeakAuth) {
			return weakAuth(t.Addr(), t, plan.WeakAuth)
		}
	case plan.Driver == DriverPQ:
		return pqCannotBind(t.Addr(), t)
	case plan.WeakAuth != "":
		return weakAuth(t.Addr(), t, plan.WeakAuth)
	}
	return nil
}

// weakForSCRAM reports whether a weakening setting of pgx's
// authentication goes below what PasswordSCRAM accepts (require_auth).
func weakForSCRAM(setting string) bool {
	return strings.HasPrefix(setting, "require_auth=")
}

// identityGap says why t's attempts leave the server's identity unverified.
func identityGap(t Target) string {
	if t.Verify() == VerifyCA {
		return "(verify-ca with a public CA: any public CA vouches for a name it issued to anyone)"
	}
	return "(sslmode=" + t.Mode.String() + " encrypts to whoever answers)"
}

const verifyOrCert = "verify the server (sslmode=verify-full and sslrootcert), or authenticate with a client certificate and no password"

func passwordUnverified(host, detail string) *Violation {
	return &Violation{Reason: ReasonPasswordUnverified, Host: host, Got: "password to an unverified server",
		Want: "SCRAM with channel binding, or a verified server", Detail: detail,
		Fix: verifyOrCert + ", or accept SCRAM without channel binding with " + EnvAllowUnverPass + "=scram"}
}

func pqCannotBind(host string, t Target) *Violation {
	v := passwordUnverified(host, "the password would go to a server whose identity is not verified "+identityGap(t)+
		", and lib/pq can neither bind SCRAM to the TLS channel nor refuse a cleartext or MD5 request")
	v.Fix = verifyOrCert + ", or use pgx (the driver name \"securepg\"), which securepg restricts to SCRAM with channel binding; " +
		EnvAllowUnverPass + "=scram accepts SCRAM without channel binding (a relayed login remains possible)"
	return v
}

func weakAuth(host string, t Target, setting string) *Violation {
	v := passwordUnverified(host, "the configuration sets "+SafeText(setting)+", and the password would go without SCRAM channel binding to a server whose identity is not verified "+identityGap(t))
	v.Fix = "remove " + SafeText(setting) + " (securepg then requires channel binding), or " + verifyOrCert
	return v
}

func plaintextPassword(host string) *Violation {
	v := passwordUnverified(host, "the password would go over plaintext to loopback ("+EnvAllowLoopPlain+"), where SCRAM cannot be bound to a TLS channel")
	v.Fix = "accept SCRAM-SHA-256 without channel binding with " + EnvAllowUnverPass + "=scram (a cleartext or MD5 request stays refused), or connect without a password (trust or peer on the sidecar), or use TLS"
	return v
}
