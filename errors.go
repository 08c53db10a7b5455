package securepg

import (
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
)

// ErrPolicyViolation is matched by every refusal: errors.Is(err,
// ErrPolicyViolation) reports whether securepg refused a connection because
// it was weaker than the policy.
var ErrPolicyViolation = hooks.ErrPolicyViolation

// DSNError is the error for a DSN (or PG* variable, service file,
// passfile) that cannot be read safely as the driver reads it: malformed,
// too long, or read so that part of a setting goes elsewhere (a password
// swallowed into a host name). Driver names the parser ("pgx", "pq", or
// "securepg"); Msg never holds a secret. It is not a refusal.
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
	// without SCRAM channel binding (lib/pq, a weakened DSN, or a server
	// asking for another method).
	ReasonPasswordUnverifiedServer = core.ReasonPasswordUnverified

	ReasonHostNotAllowed    = core.ReasonHostNotAllowed    // a host outside SECUREPG_ALLOWED_HOSTS
	ReasonNetworkNotAllowed = core.ReasonNetworkNotAllowed // an address or peer outside SECUREPG_ALLOWED_NETWORKS

	// SECUREPG_FORBID_SUPERUSER is set, and the session's role is a
	// superuser or a member of one (ReasonSuperuserSession), or can reach
	// the server's OS or files (ReasonPrivilegedRole; the Detail says
	// which): pg_execute_server_program, pg_read_server_files,
	// pg_write_server_files, EXECUTE on a server-file function or on
	// dblink_connect_u, ALTER SYSTEM or SET session_preload_libraries,
	// REPLICATION, or CREATEROLE before PostgreSQL 16.
	ReasonSuperuserSession = core.ReasonSuperuserSession
	ReasonPrivilegedRole   = core.ReasonPrivilegedRole

	ReasonKeyExchangeClassical = core.ReasonKeyExchangeClassical // SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq, and the handshake was classical
	ReasonPinMismatch          = core.ReasonPinMismatch          // no key of the verified chain is pinned (SECUREPG_PIN_SHA256)
)

// PolicyError is the error of every refusal: hooks.Violation, securepg's
// one violation type, which OnViolation hears too. Its Outcome is
// "refused"; errors.Is(err, ErrPolicyViolation) is true; Unwrap returns
// its cause. A refusal inside another error (pgx used directly wraps what
// securepg's hooks returned) is found by errors.As all the same.
type PolicyError = hooks.Violation

// SettingError is a policy setting securepg cannot use: an unknown or
// misspelt SECUREPG_ variable (sql.Open refuses every connection until it
// is renamed or unset), an invalid value of a variable or an option, or a
// file a setting names that cannot be read. Setting names the variable or
// option at fault; the text never holds the value. It is not a refusal:
// errors.Is(err, ErrPolicyViolation) is false.
type SettingError = core.SettingError
