// Package securepg is a database/sql driver for PostgreSQL that makes
// connections secure by policy. It sits in front of a real driver (pgx v5
// by default, or lib/pq) and never makes a connection weaker than the
// organisation's policy. Existing code changes one word:
//
//	import _ "github.com/securepg/securepg"
//
//	db, err := sql.Open("securepg", os.Getenv("DATABASE_URL"))
//
// "securepg" is pgx (errors are *pgconn.PgError); "securepg-pq", registered
// by package github.com/securepg/securepg/libpq, is lib/pq (*pq.Error). A
// program that does not import libpq does not link lib/pq.
//
// # The policy
//
// The policy comes from environment variables, read when a connector is
// created (sql.Open or NewConnector); options of NewConnector override
// them.
//
//	SECUREPG_MIN_SSLMODE                the weakest sslmode: disable < allow < prefer < require < verify-ca < verify-full       (verify-full)
//	SECUREPG_MIN_TLS_VERSION            the oldest TLS version: 1.2 or 1.3                                                      (1.2)
//	SECUREPG_SSLROOTCERT                a CA bundle path, or system: the roots where the configuration names none               (none)
//	SECUREPG_SSLCERT                    a client certificate (PEM) for mutual TLS where the configuration names none            (none)
//	SECUREPG_SSLKEY                     its key (PEM)                                                                           (none)
//	SECUREPG_MODE                       enforce (refuse), or audit (connect and report)                                         (enforce)
//	SECUREPG_ALLOW_UNIX_SOCKET          true: unix sockets (never TLS) are allowed                                              (false)
//	SECUREPG_ALLOW_LOOPBACK_PLAINTEXT   true: a weaker sslmode, only where the dialed address is loopback                       (false)
//	SECUREPG_PASSWORD_FILE              a file holding the password, read for every new connection                              (none)
//	SECUREPG_FORBID_DSN_PASSWORD        true: a DSN that carries a password is refused                                          (false)
//	SECUREPG_ALLOW_UNVERIFIED_PASSWORD  to an unverified server: false (SCRAM with channel binding), scram, or true (anything)  (false)
//	SECUREPG_ALLOWED_NETWORKS           CIDR ranges, private, loopback: where a connection may be made                          (any)
//	SECUREPG_ALLOWED_HOSTS              names and *.suffix patterns a configuration may name                                    (any)
//	SECUREPG_FORBID_SUPERUSER           true: a role that can reach superuser or the server's OS is refused                     (false)
//	SECUREPG_CONNECT_TIMEOUT            a duration, or seconds: a connect's bound where the configuration sets none             (10s)
//	SECUREPG_APPLICATION_NAME           the application_name where the configuration sets none                                  (the executable's name)
//	SECUREPG_TLS_KEY_EXCHANGE           any, or hybrid-pq: only hybrid post-quantum groups, TLS 1.3                             (any)
//	SECUREPG_PIN_SHA256                 base64 SHA-256 SPKI hashes; one must be in the verified chain                           (none)
//	SECUREPG_PIN_SHA256_FILE            a file of such hashes, read again when it changes (for a rotation)                      (none)
//	SECUREPG_OPERATION_SPANS            false: operations get no span (connect spans and metrics stay)                          (true)
//
// An invalid value is an error naming the variable; nothing falls back
// silently. docs/policy.md lists every variable with its option.
//
// # Connecting securely
//
// What counts is the effective configuration (DSN, PG* environment,
// service file, defaults) as the underlying driver's own parser reads it.
// Every attempt the driver will make (each host, each TLS or plaintext
// fallback) is judged, and sql.Open returns a refusal before anything is
// dialed. Every new connection is then validated before database/sql
// sees it, before any password is sent: with pgx in
// tls.Config.VerifyConnection; with lib/pq, securepg owns the dial, the
// TLS handshake and the loop over hosts, and hands lib/pq one verified
// connection at a time. A connection that fails validation is closed; it
// never leads to a weaker fallback. An attempt the policy refused is
// reported even when another host then answers.
//
// Under a policy that requires TLS, a password goes to a server whose
// identity is not verified only through SCRAM with channel binding
// (SECUREPG_ALLOW_UNVERIFIED_PASSWORD); lib/pq can bind nothing.
// SECURITY.md has the threat model.
//
// Unlike the drivers, and as libpq does, securepg applies
// ssl_min_protocol_version and ssl_max_protocol_version to the client, and
// keeps each TCP host's sslmode when the first host is a unix socket. An
// org root (SECUREPG_SSLROOTCERT) applies only where the configuration
// names no sslrootcert. lib/pq's sslmode=pqgo-* is refused wherever the
// policy demands TLS. With pgx, securepg verifies certificates itself, so
// ConnectionState().VerifiedChains is empty. docs/policy.md has the rest.
//
// # Errors
//
// Every refusal satisfies errors.Is(err, ErrPolicyViolation) and
// errors.As(err, &pe) for a *PolicyError (hooks.Violation, the type
// OnViolation hears too) with a stable Reason code. No
// error, log record, span, hook argument or %#v rendering contains a
// secret, and a failed connect's error shows no control character, while
// errors.As still finds the driver's *pgconn.PgError or *pq.Error. Errors
// of queries are the driver's own: escape their text before a terminal
// shows it.
//
// # Audit mode, telemetry, hooks, credentials
//
// SECUREPG_MODE=audit connects anyway and logs every violation at warn
// level (WithLogger); enforce mode logs each refusal at error level.
// securepg reports OpenTelemetry spans and metrics through the global
// providers (or WithTracerProvider, WithMeterProvider). WithHooks installs
// lifecycle and query hooks (package hooks); WithCredentials and
// SECUREPG_PASSWORD_FILE supply credentials for every new connection.
// Package otel registers pool metrics; package sqlmocktest puts go-sqlmock
// behind the whole chain.
//
// # Reaching the driver
//
// With pgx, sql.Conn.Raw hands over pgx's own *stdlib.Conn. With lib/pq it
// hands over a wrapper; UnwrapConn returns lib/pq's conn.
package securepg
