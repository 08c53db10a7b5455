package securepg

import (
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
)

// ErrPolicyViolation is matched by every refusal: errors.Is(err,
// ErrPolicyViolation) reports whether securepg refused a connection because
// it was weaker than the policy.
var ErrPolicyViolation = hooks.ErrPolicyViolation

// DSNError is the error for a DSN (or a PG* variable, a service file, a
// passfile) that securepg or the driver cannot read as the driver would:
// malformed, longer than securepg accepts, or read by the driver in a way
// that would send part of a setting somewhere else (a password swallowed
// into a host name). Driver names the parser that read it ("pgx", "pq",
// or "securepg" for securepg's own bounds); Msg never holds a secret
// (docs/policy.md, "Errors"). It is not a refusal: errors.Is(err,
// ErrPolicyViolation) is false.
type DSNError = core.DSNError

// Reason codes of a PolicyError. They are stable, and the same value is the
// securepg.policy.reason attribute in telemetry.
const (
	// The configuration (DSN + PG* environment + service file + defaults)
	// is weaker than the policy; refused before anything is dialed.
	ReasonTLSDisabled           = core.ReasonTLSDisabled           // sslmode=disable
	ReasonPlaintextFallback     = core.ReasonPlaintextFallback     // sslmode=prefer or allow
	ReasonUnverifiedCertificate = core.ReasonUnverifiedCertificate // sslmode=require
	ReasonUnverifiedHostname    = core.ReasonUnverifiedHostname    // sslmode=verify-ca
	ReasonUnixSocket            = core.ReasonUnixSocket            // a unix socket, not allowed
	ReasonCustomTLSConfig       = core.ReasonCustomTLSConfig       // lib/pq sslmode=pqgo-*
	ReasonTLSVersionTooLow      = core.ReasonTLSVersionTooLow      // configured or negotiated below the minimum
	ReasonNoHostName            = core.ReasonNoHostName            // verify-full with hostaddr but no host name to check

	// The live connection failed validation.
	ReasonTLSNotEstablished    = core.ReasonTLSNotEstablished    // the server, or something in between, refused TLS
	ReasonCertificateUntrusted = core.ReasonCertificateUntrusted // not signed by a trusted root
	ReasonCertificateExpired   = core.ReasonCertificateExpired   // expired or not yet valid
	ReasonHostnameMismatch     = core.ReasonHostnameMismatch     // valid, but for another host

	// SECUREPG_FORBID_DSN_PASSWORD is set and the DSN carries a password.
	ReasonPasswordInDSN = core.ReasonPasswordInDSN

	// A password would reach a server whose identity is not verified,
	// without SCRAM channel binding: lib/pq (which cannot bind), a DSN
	// that weakens channel_binding or require_auth, or a server that asks
	// for a cleartext password, an MD5 response, SCRAM without channel
	// binding, or nothing at all.
	ReasonPasswordUnverifiedServer = core.ReasonPasswordUnverified

	// ReasonHostNotAllowed: the configuration names a host outside
	// SECUREPG_ALLOWED_HOSTS (refused at sql.Open, the DSN as a whole).
	ReasonHostNotAllowed = core.ReasonHostNotAllowed
	// ReasonNetworkNotAllowed: the address about to be dialed is outside
	// SECUREPG_ALLOWED_NETWORKS (refused before the dial; a peer that
	// differs from it, through a DialFunc's proxy, before any byte is sent).
	ReasonNetworkNotAllowed = core.ReasonNetworkNotAllowed
	// ReasonSuperuserSession: the session's role is a superuser or a
	// member (through any chain of roles, NOINHERIT included) of one, and
	// SECUREPG_FORBID_SUPERUSER is set.
	ReasonSuperuserSession = core.ReasonSuperuserSession
	// ReasonPrivilegedRole: the session's role can reach the server's
	// operating system: a member of pg_execute_server_program (COPY ... TO
	// PROGRAM), pg_read_server_files or pg_write_server_files, or, before
	// PostgreSQL 16, a CREATEROLE role (which can grant itself those), and
	// SECUREPG_FORBID_SUPERUSER is set. The Detail says which.
	ReasonPrivilegedRole = core.ReasonPrivilegedRole
	// ReasonKeyExchangeClassical: SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq, and
	// the handshake negotiated a classical key-exchange group (or the
	// server agreed on none of the hybrid post-quantum ones offered).
	ReasonKeyExchangeClassical = core.ReasonKeyExchangeClassical
	// ReasonPinMismatch: SECUREPG_PIN_SHA256 is set, and no certificate of
	// the server's verified chain has a pinned key (or the connection
	// verified no chain to match the pins against).
	ReasonPinMismatch = core.ReasonPinMismatch
)

// PolicyError is the error of every refusal: hooks.Violation, securepg's
// one violation type, which OnViolation hears too. Its Outcome is
// "refused"; errors.Is(err, ErrPolicyViolation) is true; Unwrap returns
// its cause. A refusal inside another error (pgx used directly wraps what
// securepg's hooks returned) is found by errors.As all the same.
type PolicyError = hooks.Violation
