package securepg

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
	"github.com/securepg/securepg/internal/telemetry"
)

// Option configures a connector made by NewConnector. Options override the
// SECUREPG_* environment variables.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type setting struct{ variable, value, source string }

type options struct {
	serverView bool // WithServerView
	settings   []setting
	logger     *slog.Logger
	telemetry  telemetry.Settings
	hooks      []hooks.Hooks
	providers  []hooks.CredentialProvider
	native     bool         // ConfigurePgx: pgx's own API runs the statements
	backend    seam.Backend // libpq.Backend(): lib/pq
	errs       []error
}

func set(variable, value, source string) Option {
	return optionFunc(func(o *options) {
		o.settings = append(o.settings, setting{variable, value, "option " + source})
	})
}

// WithMinSSLMode sets the weakest acceptable sslmode: disable, allow,
// prefer, require, verify-ca or verify-full (SECUREPG_MIN_SSLMODE).
func WithMinSSLMode(mode string) Option { return set(core.EnvMinSSLMode, mode, "WithMinSSLMode") }

// WithRootCert sets the CA bundle that verifies servers whose effective
// configuration names no sslrootcert; "system" means the system roots
// (SECUREPG_SSLROOTCERT). Like libpq's sslrootcert, a root file turns
// sslmode=require into verify-ca.
func WithRootCert(path string) Option { return set(core.EnvSSLRootCert, path, "WithRootCert") }

// WithClientCert sets the client certificate and key for mutual TLS where
// the effective configuration names none (SECUREPG_SSLCERT, SECUREPG_SSLKEY).
func WithClientCert(certFile, keyFile string) Option {
	return optionFunc(func(o *options) {
		set(core.EnvSSLCert, certFile, "WithClientCert").apply(o)
		set(core.EnvSSLKey, keyFile, "WithClientCert").apply(o)
	})
}

// WithMinTLSVersion sets the lowest TLS version accepted: tls.VersionTLS12
// or tls.VersionTLS13 (SECUREPG_MIN_TLS_VERSION).
func WithMinTLSVersion(version uint16) Option {
	return optionFunc(func(o *options) {
		switch version {
		case tls.VersionTLS12:
			set(core.EnvMinTLSVersion, "1.2", "WithMinTLSVersion").apply(o)
		case tls.VersionTLS13:
			set(core.EnvMinTLSVersion, "1.3", "WithMinTLSVersion").apply(o)
		default:
			o.errs = append(o.errs, fmt.Errorf("securepg: WithMinTLSVersion(0x%04x): want tls.VersionTLS12 or tls.VersionTLS13", version))
		}
	})
}

// WithMode sets "enforce" (refuse weak connections, the default) or
// "audit" (connect anyway, and report every violation) (SECUREPG_MODE).
func WithMode(mode string) Option { return set(core.EnvMode, mode, "WithMode") }

// WithAllowUnixSocket allows connections through unix sockets, which never
// use TLS (SECUREPG_ALLOW_UNIX_SOCKET).
func WithAllowUnixSocket(allow bool) Option {
	return set(core.EnvAllowUnixSocket, strconv.FormatBool(allow), "WithAllowUnixSocket")
}

// WithAllowLoopbackPlaintext permits an sslmode weaker than the minimum
// only where the address dialed is loopback (127.0.0.0/8, ::1): a sidecar
// on the same host, such as the Cloud SQL Auth Proxy or PgBouncer. The
// address is judged before the dial; a host name that resolves elsewhere,
// or an address outside loopback, is refused as the sslmode would be
// (SECUREPG_ALLOW_LOOPBACK_PLAINTEXT). See docs/sidecars.md.
func WithAllowLoopbackPlaintext(allow bool) Option {
	return set(core.EnvAllowLoopPlain, strconv.FormatBool(allow), "WithAllowLoopbackPlaintext")
}

// WithTLSKeyExchange sets what a handshake's key exchange must be: "any"
// (the default) or "hybrid-pq", a hybrid post-quantum group
// (X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024), which the
// client then offers alone, over TLS 1.3; a classical handshake is refused
// with ReasonKeyExchangeClassical (SECUREPG_TLS_KEY_EXCHANGE). libpq has
// no such setting. See docs/tls.md.
func WithTLSKeyExchange(kex string) Option {
	return set(core.EnvTLSKeyExchange, kex, "WithTLSKeyExchange")
}

// WithPinSHA256 pins the server's keys: a certificate of the verified
// chain (leaf, intermediate or root) must have a SubjectPublicKeyInfo
// whose SHA-256, in base64, is one of pins; otherwise the connection is
// refused with ReasonPinMismatch. Pins are checked beside the chain and
// host-name verification, never instead of it: a connection that verifies
// no chain does not pass them (SECUREPG_PIN_SHA256). libpq has no such
// setting. See docs/tls.md.
func WithPinSHA256(pins ...string) Option {
	return set(core.EnvPinSHA256, strings.Join(pins, ","), "WithPinSHA256")
}

// WithPinSHA256File reads the pins of WithPinSHA256 from a file instead:
// one per line (or comma-separated), blank lines and lines starting with #
// skipped (SECUREPG_PIN_SHA256_FILE). Like the root file, it is read again
// when it changes, so a key rotation adds the next key's pin without a
// restart; a file that stays missing or unparseable fails closed.
func WithPinSHA256File(path string) Option {
	return set(core.EnvPinSHA256File, path, "WithPinSHA256File")
}

// WithLogger sets where refusals (error level) and audited violations (warn
// level) are reported. The default is slog.Default() at the time of
// logging. A nil logger is ignored.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithTracerProvider sets where spans go. The default is the global
// provider (otel.GetTracerProvider()), followed as it changes, so that an
// application that installs an SDK after sql.Open still sees spans. A nil
// provider is ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(o *options) {
		if tp != nil {
			o.telemetry.TracerProvider = tp
		}
	})
}

// WithMeterProvider sets where metrics go. The default is the global
// provider (otel.GetMeterProvider()). A nil provider is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(o *options) {
		if mp != nil {
			o.telemetry.MeterProvider = mp
		}
	})
}

// WithQueryText records each statement as db.query.text, with every
// literal replaced by '?'. Argument values are never recorded. Off by
// default.
func WithQueryText(on bool) Option {
	return optionFunc(func(o *options) { o.telemetry.QueryText = on })
}

// WithSpanFilter decides per operation whether it gets a span; metrics are
// recorded either way. op is "query", "exec", "prepare", "begin",
// "commit", "rollback", "batch", "ping" or "reset_session"; query is the
// statement text (never arguments). database/sql pings and resets
// sessions all the time: those are observed (span and metrics) only when
// a filter accepts them (lib/pq; pgx's are not observable without
// wrapping its conn). A nil filter is ignored.
func WithSpanFilter(filter func(ctx context.Context, op, query string) bool) Option {
	return optionFunc(func(o *options) {
		if filter != nil {
			o.telemetry.Filter = filter
		}
	})
}

// WithOperationSpans turns off (false) or on (true, the default) the spans
// of operations: queries, execs, prepares, transactions, batches, pings and
// session resets. Connect spans and every metric stay. Off avoids double
// spans under a database/sql wrapper that makes its own, such as
// XSAM/otelsql (SECUREPG_OPERATION_SPANS).
func WithOperationSpans(on bool) Option {
	return optionFunc(func(o *options) { o.telemetry.OperationSpans = &on })
}

// WithHooks installs a set of lifecycle and query hooks. Sets run in the
// order they are installed (see package hooks).
func WithHooks(h hooks.Hooks) Option {
	return optionFunc(func(o *options) { o.hooks = append(o.hooks, h) })
}

// WithCredentials installs a credential provider, asked for every new
// physical connection: the one way to supply credentials in code
// (hooks.CredentialFunc adapts a function). Credentials are resolved in
// order of increasing precedence: the DSN, PGPASSWORD and the passfile (as
// the driver reads them); SECUREPG_PASSWORD_FILE (itself a provider); the
// providers, in installation order. A nil provider is ignored.
func WithCredentials(p hooks.CredentialProvider) Option {
	return optionFunc(func(o *options) {
		if p != nil {
			o.providers = append(o.providers, p)
		}
	})
}

// WithPasswordFile reads the password from path for every new connection
// (SECUREPG_PASSWORD_FILE).
func WithPasswordFile(path string) Option { return set(core.EnvPasswordFile, path, "WithPasswordFile") }

// WithAllowUnverifiedPassword grades the password protection
// (SECUREPG_ALLOW_UNVERIFIED_PASSWORD), which governs every credential
// (a password from any source, an OAuth token) sent to a server whose
// identity is not verified under a policy that requires TLS:
//
//   - "false" (the default): SCRAM with channel binding only, which a man
//     in the middle can neither read nor relay;
//   - "scram": SCRAM-SHA-256 without channel binding too, for poolers
//     such as PgBouncer and for lib/pq: the password never leaves the
//     client, but a man in the middle can relay the login and keep the
//     session; cleartext, MD5 and other methods stay refused;
//   - "true": anything, cleartext included.
func WithAllowUnverifiedPassword(grade string) Option {
	return set(core.EnvAllowUnverPass, grade, "WithAllowUnverifiedPassword")
}

// WithForbidDSNPassword refuses a DSN that carries a password, with reason
// password_in_dsn (SECUREPG_FORBID_DSN_PASSWORD).
func WithForbidDSNPassword(forbid bool) Option {
	return set(core.EnvForbidDSNPass, strconv.FormatBool(forbid), "WithForbidDSNPassword")
}

// WithAllowedNetworks restricts the addresses securepg connects to: the
// exact address each attempt is about to dial (after the driver's own
// name resolution, never a name resolved again), and the peer of the
// connection made, must be in one of the ranges — CIDR ranges, single
// addresses, "private" (RFC 1918, RFC 4193, loopback) or "loopback" —
// else the attempt is refused with reason network_not_allowed before the
// dial: no packet leaves for it (SECUREPG_ALLOWED_NETWORKS).
func WithAllowedNetworks(ranges ...string) Option {
	return set(core.EnvAllowedNetworks, strings.Join(ranges, ","), "WithAllowedNetworks")
}

// WithAllowedHosts restricts the host names a configuration may name:
// exact names and "*.suffix" patterns, and unix socket directories as
// written in host= (an absolute path). A DSN (with its environment and
// service file) that names any other host is refused at sql.Open with
// reason host_not_allowed (SECUREPG_ALLOWED_HOSTS).
func WithAllowedHosts(patterns ...string) Option {
	return set(core.EnvAllowedHosts, strings.Join(patterns, ","), "WithAllowedHosts")
}

// WithForbidSuperuser refuses a session whose role is a superuser or a
// member of one (reason superuser_session), or a member of
// pg_execute_server_program, pg_read_server_files or
// pg_write_server_files, or a CREATEROLE role before PostgreSQL 16
// (privileged_role) (SECUREPG_FORBID_SUPERUSER). Under it, each connect
// asks the server one query after the startup; without it, none.
func WithForbidSuperuser(forbid bool) Option {
	return set(core.EnvForbidSuperuser, strconv.FormatBool(forbid), "WithForbidSuperuser")
}

// WithConnectTimeout bounds each connect (TCP, TLS and startup) when the
// configuration sets no connect_timeout; the default is 10 seconds, and 0
// waits forever (SECUREPG_CONNECT_TIMEOUT).
func WithConnectTimeout(d time.Duration) Option {
	return set(core.EnvConnectTimeout, d.String(), "WithConnectTimeout")
}

// WithApplicationName is the application_name sent when the configuration
// sets none; the default is the executable's base name
// (SECUREPG_APPLICATION_NAME).
func WithApplicationName(name string) Option {
	return set(core.EnvAppName, name, "WithApplicationName")
}

// WithServerView makes securepg ask the server for its view of the TLS of
// every new lib/pq connection (pg_stat_ssl: one query after the startup)
// even when nothing records it. By default it is asked only when the
// connect span is recording or an AfterConnect hook is installed: no
// validation decision depends on it. pgx never asks.
func WithServerView(on bool) Option { return optionFunc(func(o *options) { o.serverView = on }) }
