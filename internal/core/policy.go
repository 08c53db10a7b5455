package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// The environment variables that carry the org-wide policy.
const (
	EnvMinSSLMode      = "SECUREPG_MIN_SSLMODE"
	EnvMinTLSVersion   = "SECUREPG_MIN_TLS_VERSION"
	EnvSSLRootCert     = "SECUREPG_SSLROOTCERT"
	EnvSSLCert         = "SECUREPG_SSLCERT"
	EnvSSLKey          = "SECUREPG_SSLKEY"
	EnvMode            = "SECUREPG_MODE"
	EnvAllowUnixSocket = "SECUREPG_ALLOW_UNIX_SOCKET"
	EnvPasswordFile    = "SECUREPG_PASSWORD_FILE"
	EnvForbidDSNPass   = "SECUREPG_FORBID_DSN_PASSWORD"
	EnvAllowUnverPass  = "SECUREPG_ALLOW_UNVERIFIED_PASSWORD"
	EnvAllowedNetworks = "SECUREPG_ALLOWED_NETWORKS"
	EnvAllowedHosts    = "SECUREPG_ALLOWED_HOSTS"
	EnvForbidSuperuser = "SECUREPG_FORBID_SUPERUSER"
	EnvConnectTimeout  = "SECUREPG_CONNECT_TIMEOUT"
	EnvAppName         = "SECUREPG_APPLICATION_NAME"
	EnvAllowLoopPlain  = "SECUREPG_ALLOW_LOOPBACK_PLAINTEXT"
	EnvTLSKeyExchange  = "SECUREPG_TLS_KEY_EXCHANGE"
	EnvPinSHA256       = "SECUREPG_PIN_SHA256"
	EnvPinSHA256File   = "SECUREPG_PIN_SHA256_FILE"
)

// EnvOperationSpans turns database/sql's operation spans on or off
// (package telemetry reads it; it is listed here so that it is known).
const EnvOperationSpans = "SECUREPG_OPERATION_SPANS"

// SettingDriver is the backend a connector uses: not a variable, as error
// types differ between backends and a deployment must not switch them
// under existing code. The driver name sets it ("securepg" is pgx,
// "securepg-pq" lib/pq), as do a pgx configuration and a listener.
const SettingDriver = "driver"

// DefaultConnectTimeout bounds a connect whose configuration sets no
// connect_timeout, as the guide does: a server that does not answer fails
// fast instead of holding the caller.
const DefaultConnectTimeout = 10 * time.Second

// The underlying drivers, and lib/pq's driver name (libpq.DriverName),
// which securepg's messages name.
const (
	DriverPgx = "pgx"
	DriverPQ  = "pq"
	NamePQ    = "securepg-pq"
)

// SourceDefault marks a policy value that nobody set.
const SourceDefault = "default"

// Policy is the effective org policy: what a connection must at least be.
type Policy struct {
	Driver          string
	MinSSLMode      SSLMode
	MinTLSVersion   uint16
	RootCert        string // path to a PEM bundle, "system", or "" (use the DSN's)
	ClientCert      string // path to a PEM certificate, or ""
	ClientKey       string // path to its PEM key, or ""
	Audit           bool   // report violations instead of refusing
	AllowUnixSocket bool

	PasswordFile      string // read for every new connection, "" = none
	ForbidDSNPassword bool   // refuse a DSN that carries a password

	// UnverifiedPassword grades the password protection: under a policy
	// that requires TLS, what a credential may go through to a server
	// whose identity is unverified (PasswordBound by default: SCRAM with
	// channel binding only).
	UnverifiedPassword PasswordGrade

	// AllowedNetworks: the address a connection is made to must be in
	// one of these ranges. AllowedHosts: every host the configuration
	// names must match one of these names or patterns.
	AllowedNetworks Networks
	AllowedHosts    Hosts

	// AllowLoopbackPlaintext permits an sslmode weaker than MinSSLMode
	// where the address dialed is loopback (127.0.0.0/8, ::1): a sidecar
	// such as the Cloud SQL Auth Proxy or PgBouncer on the same host.
	AllowLoopbackPlaintext bool

	// KeyExchange is what a handshake's key exchange must be: any group,
	// or a hybrid post-quantum one (KeyExchangeHybridPQ).
	KeyExchange KeyExchange

	// Pins: a certificate of the verified chain must have one of these
	// keys (SPKI SHA-256), beside the verification, never instead of it.
	Pins Pins
	// PinFile holds the pins instead, read again when it changes (as the
	// root file is): a key rotation adds a pin without a restart. Load
	// puts its first version in Pins.
	PinFile string

	// ForbidSuperuser refuses a session whose role is a superuser.
	ForbidSuperuser bool

	// ConnectTimeout bounds a connect when neither the DSN nor
	// PGCONNECT_TIMEOUT sets connect_timeout; 0 waits forever.
	ConnectTimeout time.Duration

	// ApplicationName is sent when neither the DSN nor PGAPPNAME sets
	// application_name; "" sends the executable's base name.
	ApplicationName string

	// OperationSpans is SECUREPG_OPERATION_SPANS as the environment sets
	// it (telemetry, not policy: package telemetry applies it; an option
	// may override it per connector).
	OperationSpans bool

	// Sources maps each policy variable name (EnvMinSSLMode, ...) to where
	// its value came from: SourceDefault, the variable's own name, or the
	// name of the option that set it.
	Sources map[string]string

	// Logger (nil: slog.Default() at the time), set before Load or
	// Prepare, is told once per episode
	// that a key file securepg reads is missing or unreadable and the last
	// good version is being used: what a rotation in progress looks like,
	// and what a rotation that never completes looks like.
	Logger *slog.Logger

	roots      *Material[*Roots] // loaded by Load, or nil
	clientCert *Material[*tls.Certificate]
	PinsFile   *Material[Pins] // PinFile, loaded by Load, or nil
}

// DefaultPolicy is the policy with nothing set: verify-full, TLS 1.2, enforce.
func DefaultPolicy() Policy {
	p := Policy{
		Driver:         DriverPgx,
		MinSSLMode:     ModeVerifyFull,
		MinTLSVersion:  tls.VersionTLS12,
		ConnectTimeout: DefaultConnectTimeout,
		OperationSpans: true,
		Sources:        make(map[string]string, len(EnvVars)),
	}
	for _, v := range EnvVars {
		p.Sources[v] = SourceDefault
	}
	return p
}

// PolicyFromEnv reads the SECUREPG_* variables of the process. An empty
// variable counts as unset. An invalid value is an error naming the variable.
func PolicyFromEnv() (Policy, error) {
	p := DefaultPolicy()
	errs := []error{unknownVariables(os.Environ())}
	for _, name := range EnvVars {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			continue
		}
		if err := p.Set(name, v, name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Set assigns the policy value named by variable from its text form, and
// records source as its origin. Errors name source.
func (p *Policy) Set(variable, value, source string) error {
	// The value is not repeated: a secret set in the wrong variable must
	// not end up in a log.
	bad := func(want string) error {
		return fmt.Errorf("securepg: invalid %s: want %s", source, want)
	}
	if variable == SettingDriver {
		switch value {
		case DriverPgx, DriverPQ:
			p.Driver = value
		default:
			return bad(`the driver name "securepg" (pgx) or "securepg-pq" (lib/pq)`)
		}
	} else {
		st := setting(variable)
		if st == nil {
			return fmt.Errorf("securepg: unknown policy variable %s", variable)
		}
		want, err := st.parse(p, value)
		switch {
		case err == errInvalid:
			return bad(want)
		case err != nil:
			return fmt.Errorf("securepg: invalid %s: %w", source, err)
		}
	}
	if p.Sources == nil {
		p.Sources = make(map[string]string)
	}
	p.Sources[variable] = source
	return nil
}

// PasswordGrade is what a credential may go through to a server whose
// identity is unverified, under a policy that requires TLS
// (SECUREPG_ALLOW_UNVERIFIED_PASSWORD).
type PasswordGrade uint8

// The grades, strictest first.
const (
	// PasswordBound: SCRAM with channel binding (SCRAM-SHA-256-PLUS)
	// only, which a man in the middle can neither read nor relay ("false").
	PasswordBound PasswordGrade = iota
	// PasswordSCRAM: SCRAM-SHA-256 with or without channel binding
	// ("scram"). The password never leaves the client, but a man in the
	// middle can relay the login and keep the session; for poolers such
	// as PgBouncer, which cannot bind.
	PasswordSCRAM
	// PasswordAny: anything the server asks for, cleartext included ("true").
	PasswordAny
)

func (g PasswordGrade) String() string {
	switch g {
	case PasswordSCRAM:
		return "scram"
	case PasswordAny:
		return "true"
	}
	return "false"
}

func parsePasswordGrade(s string) (PasswordGrade, bool) {
	switch strings.ToLower(s) {
	case "false":
		return PasswordBound, true
	case "scram":
		return PasswordSCRAM, true
	case "true":
		return PasswordAny, true
	}
	return 0, false
}

// parseTimeout reads a Go duration or, as connect_timeout, whole seconds.
func parseTimeout(s string) (time.Duration, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, n >= 0 && n < 1<<31
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

// ModeName is "audit" or "enforce".
func (p *Policy) ModeName() string {
	if p.Audit {
		return "audit"
	}
	return "enforce"
}

// Load reads the certificate files the policy names, so that a connector
// fails at creation rather than at its first connection. Errors name the
// variable or option that set the file.
func (p *Policy) Load() error {
	ctx := context.Background()
	p.roots, p.clientCert, p.PinsFile = nil, nil, nil
	if p.PinFile != "" {
		if len(p.Pins) > 0 && p.Sources[EnvPinSHA256] != SourceDefault {
			return fmt.Errorf("securepg: %s and %s are both set: set one", p.Sources[EnvPinSHA256], p.Sources[EnvPinSHA256File])
		}
		m := Watched(*p, NewMaterial("pins", parsePinFile, p.PinFile))
		if err := m.Load(ctx); err != nil {
			return fmt.Errorf("securepg: %s: %w", p.Sources[EnvPinSHA256File], err)
		}
		p.PinsFile, p.Pins = m, m.val
	}
	if p.RootCert != "" && p.RootCert != "system" {
		// Material that follows the file: a rotated CA bundle is used by
		// new connections without a restart.
		m := Watched(*p, NewMaterial("root certificates", ParseRoots, p.RootCert))
		if err := m.Load(ctx); err != nil {
			return fmt.Errorf("securepg: %s: %w", p.Sources[EnvSSLRootCert], err)
		}
		p.roots = m
	}
	if p.RootCert == "system" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return fmt.Errorf("securepg: %s=system: %w", p.Sources[EnvSSLRootCert], err)
		}
		p.roots = StaticMaterial("root certificates", &Roots{Pool: pool, Public: true})
	}
	if (p.ClientCert == "") != (p.ClientKey == "") {
		return fmt.Errorf("securepg: %s and %s must be set together", EnvSSLCert, EnvSSLKey)
	}
	if p.ClientCert != "" {
		m := Watched(*p, NewMaterial("client certificate", ParseKeyPair, p.ClientCert, p.ClientKey))
		if err := m.Load(ctx); err != nil {
			return fmt.Errorf("securepg: %s/%s: %w", p.Sources[EnvSSLCert], p.Sources[EnvSSLKey], err)
		}
		p.clientCert = m
	}
	return nil
}

// Roots returns the org root certificates loaded by Load, or nil. They
// follow the file: see Material.
func (p *Policy) Roots() *Material[*Roots] { return p.roots }

// ClientCertificate returns the org client certificate loaded by Load, or
// nil. It follows the files: see Material.
func (p *Policy) ClientCertificate() *Material[*tls.Certificate] { return p.clientCert }

// TLSVersionName spells a TLS version as PostgreSQL does (TLSv1.3).
func TLSVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	case 0:
		return "none"
	default:
		return fmt.Sprintf("0x%04x", v)
	}
}

// ParseTLSVersionName reads PostgreSQL's spelling of a TLS version.
func ParseTLSVersionName(s string) (uint16, bool) {
	switch s {
	case "TLSv1", "TLSv1.0":
		return tls.VersionTLS10, true
	case "TLSv1.1":
		return tls.VersionTLS11, true
	case "TLSv1.2":
		return tls.VersionTLS12, true
	case "TLSv1.3":
		return tls.VersionTLS13, true
	}
	return 0, false
}
