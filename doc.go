// Package securepg is a database/sql driver for PostgreSQL that makes
// connections secure by policy. It sits in front of a real driver (pgx v5
// by default, or lib/pq) and makes one promise: a connection weaker than
// the organisation's policy is never made.
//
// Existing code changes one word:
//
//	import _ "github.com/securepg/securepg"
//
//	db, err := sql.Open("securepg", os.Getenv("DATABASE_URL"))
//
// The backend is chosen by the driver name: "securepg" is pgx (errors are
// *pgconn.PgError); "securepg-pq", registered by package
// github.com/securepg/securepg/libpq, is lib/pq (errors are *pq.Error). A
// program that does not import libpq does not link lib/pq.
//
// # The policy
//
// The policy comes from environment variables that a platform team sets
// once for every service, read when a connector is created (sql.Open or
// NewConnector). Options of NewConnector override them.
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
// silently. Every variable, with its option, is in docs/policy.md of the
// repository.
//
// # Connecting securely
//
// What counts is the effective configuration: the DSN plus the PG*
// environment variables, the service file, defaults and fallbacks, exactly
// as the underlying driver reads them. securepg parses the DSN with that
// driver's own parser (pgconn.ParseConfig or pq.NewConfig), derives every
// attempt the driver will make (each host, each TLS or plaintext
// fallback), and refuses the connector when any attempt is below the
// minimum sslmode. The refusal happens before anything is dialed: sql.Open
// returns it.
//
// Every new connection is then validated before database/sql sees it:
//
//   - pgx: each handshake is checked in tls.Config.VerifyConnection,
//     before any PostgreSQL message (and so before any password) is sent:
//     TLS version, the certificate chain against the roots, and for
//     verify-full the host name. After connecting, the client's own
//     *tls.Conn state is checked again. No extra round trip.
//   - lib/pq: securepg owns the dial, the TLS handshake and the loop over
//     hosts; lib/pq gets one host at a time, with sslmode=disable, over a
//     connection securepg has already verified and judged, and never
//     reads a certificate file itself. After connecting, pg_stat_ssl gives
//     the server's view (behind a pooler, of the pooler's own connection:
//     hooks.ConnInfo.ServerViaPooler says so), asked only when a recording
//     span, an AfterConnect hook or WithServerView reads it.
//
// Each host of a multi-host DSN gets its own credentials, and an attempt
// the policy refused is reported even when another host then answers.
//
// A connection that fails validation is closed and its error returned. It
// never leads to a weaker fallback.
//
// Under a policy that requires TLS, a password goes to a server whose
// identity is not verified (sslmode=require, or verify-ca against the
// system roots) only through SCRAM with channel binding: with pgx,
// securepg sets channel_binding=require and require_auth=scram-sha-256
// and refuses a request for a cleartext password, an MD5 response,
// unbound SCRAM or no login at all before pgx can answer; lib/pq can bind
// nothing, and is refused (password_unverified_server). SECURITY.md has
// the threat model.
//
// Where securepg differs from libpq and the drivers:
//
//   - pgx sends ssl_min_protocol_version and ssl_max_protocol_version to
//     the server as settings, which fail there; securepg applies them to
//     the client's TLS configuration, as libpq does.
//   - An org root (SECUREPG_SSLROOTCERT) applies only where the effective
//     configuration names no sslrootcert; like libpq's sslrootcert, a root
//     file turns sslmode=require into verify-ca.
//   - lib/pq's sslmode=pqgo-* (a registered tls.Config) can be neither
//     inspected nor verified: it is refused wherever the policy demands
//     TLS (custom_tls_config).
//   - lib/pq turns TLS off for every host when the first is a unix socket,
//     and checks a certificate against "localhost" when only hostaddr is
//     given; securepg does neither (the TCP hosts keep their sslmode, and
//     verify-full without a host name is refused, as in libpq).
//   - With pgx, securepg verifies the server's certificate itself, in
//     VerifyConnection, against the effective roots (for verify-ca, pgx's
//     own check would use the roots it read at parse time and ignore an
//     org root). crypto/tls's verification is not run twice, so
//     ConnectionState().VerifiedChains is empty on pgx connections.
//
// # Errors
//
// Every refusal satisfies errors.Is(err, ErrPolicyViolation) and
// errors.As(err, &pe) for a *PolicyError (hooks.Violation, the type
// OnViolation hears), whose Reason is a stable code (ReasonTLSDisabled,
// ReasonPlaintextFallback, ...). No error, log record,
// span, hook argument or %#v rendering contains a secret, as each driver
// reads the DSN: parse errors of pgx and lib/pq are rebuilt without them,
// and pgx's *pgconn.ConnectError (whose Config holds the password) never
// reaches the caller.
//
// A failed connect's error is escaped: what the server or its certificate
// wrote (a FATAL message, a name) shows no control character or
// bidirectional override, while errors.As still finds the driver's own
// *pgconn.PgError or *pq.Error with its raw fields. Errors of queries are
// the driver's own values, as the driver returns them (with pgx,
// database/sql holds pgx's own *stdlib.Conn): escape their text before a
// terminal shows it.
//
// # Audit mode
//
// SECUREPG_MODE=audit connects anyway and reports every violation at warn
// level through the logger (WithLogger, default slog.Default()); enforce
// mode logs each refusal at error level.
//
// # Telemetry, hooks, credentials
//
// securepg reports OpenTelemetry spans and metrics through the global
// providers (or WithTracerProvider, WithMeterProvider): one span per new
// connection with its TLS facts and the policy's outcome, one span per
// operation, db.client.* metrics and policy counters; with no provider
// installed it costs two atomic loads per operation. WithHooks installs
// lifecycle and query hooks (package hooks); WithCredentials and
// SECUREPG_PASSWORD_FILE supply credentials for every new connection, so
// rotated secrets need no restart. The otel package registers pool
// metrics for a *sql.DB; the sqlmocktest package puts go-sqlmock behind
// the whole chain for unit tests.
//
// # Reaching the driver
//
// With pgx, sql.Conn.Raw hands over pgx's own *stdlib.Conn, so code that
// uses CopyFrom, LISTEN or pgx types through Raw keeps working. With
// lib/pq it hands over a wrapper on which database/sql behaves exactly as
// on lib/pq's conn; UnwrapConn returns lib/pq's conn.
package securepg
