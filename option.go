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

// WithRootCert sets the CA bundle ("system": the system roots) for
// configurations that name no sslrootcert (SECUREPG_SSLROOTCERT); as in
// libpq, a root file turns sslmode=require into verify-ca.
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
		if v, ok := map[uint16]string{tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3"}[version]; ok {
			set(core.EnvMinTLSVersion, v, "WithMinTLSVersion").apply(o)
		} else {
			o.errs = append(o.errs, &SettingError{Setting: "WithMinTLSVersion", Err: fmt.Errorf("securepg: WithMinTLSVersion(0x%04x): want tls.VersionTLS12 or tls.VersionTLS13", version)})
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
// only where the address about to be dialed is loopback (a sidecar such as
// the Cloud SQL Auth Proxy); any other address is refused as the sslmode
// would be (SECUREPG_ALLOW_LOOPBACK_PLAINTEXT). See docs/sidecars.md.
func WithAllowLoopbackPlaintext(allow bool) Option {
	return set(core.EnvAllowLoopPlain, strconv.FormatBool(allow), "WithAllowLoopbackPlaintext")
}

// WithTLSKeyExchange sets the key exchange a handshake must use: "any"
// (the default) or "hybrid-pq", only hybrid post-quantum groups over TLS
// 1.3, else ReasonKeyExchangeClassical (SECUREPG_TLS_KEY_EXCHANGE). See
// docs/tls.md.
func WithTLSKeyExchange(kex string) Option {
	return set(core.EnvTLSKeyExchange, kex, "WithTLSKeyExchange")
}

// WithPinSHA256 pins the server's keys: a certificate of the verified
// chain must have a SubjectPublicKeyInfo whose base64 SHA-256 is one of
// pins, else ReasonPinMismatch. Pins add to chain verification, never
// replace it (SECUREPG_PIN_SHA256). See docs/tls.md.
func WithPinSHA256(pins ...string) Option {
	return set(core.EnvPinSHA256, strings.Join(pins, ","), "WithPinSHA256")
}

// WithPinSHA256File reads WithPinSHA256's pins from a file (one per line
// or comma-separated, # comments), read again when it changes so a
// rotation needs no restart; a missing or bad file fails closed
// (SECUREPG_PIN_SHA256_FILE).
func WithPinSHA256File(path string) Option {
	return set(core.EnvPinSHA256File, path, "WithPinSHA256File")
}

// WithLogger sets where refusals (error level) and audited violations
// (warn) are logged; default slog.Default() at the time of logging. A nil
// logger is ignored.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithTracerProvider sets where spans go; default the global provider,
// followed as it changes. A nil provider is ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(o *options) {
		if tp != nil {
			o.telemetry.TracerProvider = tp
		}
	})
}

// WithMeterProvider sets where metrics go; default the global provider. A
// nil provider is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(o *options) {
		if mp != nil {
			o.telemetry.MeterProvider = mp
		}
	})
}

// WithQueryText records each statement as db.query.text, every literal
// replaced by '?' (argument values never). Off by default.
func WithQueryText(on bool) Option {
	return optionFunc(func(o *options) { o.telemetry.QueryText = on })
}

// WithSpanFilter decides per operation ("query", "exec", "prepare",
// "begin", "commit", "rollback", "batch", "ping", "reset_session") whether
// it gets a span; metrics are recorded either way. Pings and session
// resets are observed only when a filter accepts them (lib/pq only). A nil
// filter is ignored.
func WithSpanFilter(filter func(ctx context.Context, op, query string) bool) Option {
	return optionFunc(func(o *options) {
		if filter != nil {
			o.telemetry.Filter = filter
		}
	})
}

// WithOperationSpans turns the spans of operations off (false) or on
// (true, the default); connect spans and metrics stay. Off avoids double
// spans under a wrapper such as XSAM/otelsql (SECUREPG_OPERATION_SPANS).
func WithOperationSpans(on bool) Option {
	return optionFunc(func(o *options) { o.telemetry.OperationSpans = &on })
}

// WithHooks installs a set of lifecycle and query hooks. Sets run in the
// order they are installed (see package hooks).
func WithHooks(h hooks.Hooks) Option {
	return optionFunc(func(o *options) { o.hooks = append(o.hooks, h) })
}

// WithCredentials installs a credential provider, asked for every new
// connection. Precedence, lowest first: the DSN, PGPASSWORD and passfile;
// SECUREPG_PASSWORD_FILE; the providers in order. A nil provider is
// ignored.
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

// WithAllowUnverifiedPassword grades what a credential may go to a server
// whose identity is not verified, under a policy requiring TLS
// (SECUREPG_ALLOW_UNVERIFIED_PASSWORD): "false" (the default) SCRAM with
// channel binding only; "scram" also unbound SCRAM-SHA-256 (poolers,
// lib/pq), whose login a man in the middle can relay; "true" anything.
func WithAllowUnverifiedPassword(grade string) Option {
	return set(core.EnvAllowUnverPass, grade, "WithAllowUnverifiedPassword")
}

// WithForbidDSNPassword refuses a DSN that carries a password, with reason
// password_in_dsn (SECUREPG_FORBID_DSN_PASSWORD).
func WithForbidDSNPassword(forbid bool) Option {
	return set(core.EnvForbidDSNPass, strconv.FormatBool(forbid), "WithForbidDSNPassword")
}

// WithAllowedNetworks restricts the addresses dialed, and the peers, to
// ranges: CIDR, single addresses, "private" or "loopback"; any other is
// refused before the dial with network_not_allowed
// (SECUREPG_ALLOWED_NETWORKS).
func WithAllowedNetworks(ranges ...string) Option {
	return set(core.EnvAllowedNetworks, strings.Join(ranges, ","), "WithAllowedNetworks")
}

// WithAllowedHosts restricts the hosts a configuration may name (exact
// names, "*.suffix" patterns, socket directories); any other is refused at
// sql.Open with host_not_allowed (SECUREPG_ALLOWED_HOSTS).
func WithAllowedHosts(patterns ...string) Option {
	return set(core.EnvAllowedHosts, strings.Join(patterns, ","), "WithAllowedHosts")
}

// WithForbidSuperuser refuses a session whose role can reach superuser
// (superuser_session) or the server's OS (privileged_role), at the cost of
// one query per connect (SECUREPG_FORBID_SUPERUSER).
func WithForbidSuperuser(forbid bool) Option {
	return set(core.EnvForbidSuperuser, strconv.FormatBool(forbid), "WithForbidSuperuser")
}

// WithConnectTimeout bounds each connect where the configuration sets no
// connect_timeout; default 10s, 0 waits forever (SECUREPG_CONNECT_TIMEOUT).
func WithConnectTimeout(d time.Duration) Option {
	return set(core.EnvConnectTimeout, d.String(), "WithConnectTimeout")
}

// WithApplicationName is the application_name where the configuration
// sets none; default the executable's name (SECUREPG_APPLICATION_NAME).
func WithApplicationName(name string) Option {
	return set(core.EnvAppName, name, "WithApplicationName")
}

// WithServerView asks pg_stat_ssl (one query) on every new lib/pq
// connection, even when nothing records it; by default only for a
// recording connect span or an AfterConnect hook. pgx never asks.
func WithServerView(on bool) Option { return optionFunc(func(o *options) { o.serverView = on }) }
