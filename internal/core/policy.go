package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
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

// EnvOperationSpans turns operation spans on or off (package telemetry reads it).
const EnvOperationSpans = "SECUREPG_OPERATION_SPANS"

// SettingDriver is the backend a connector uses, set by the driver name
// ("securepg" is pgx, "securepg-pq" lib/pq), never by a variable: error
// types differ between backends.
const SettingDriver = "driver"

// DefaultConnectTimeout bounds a connect whose configuration sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// The underlying drivers, and lib/pq's driver name (libpq.DriverName).
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

	PasswordFile       string        // read for every new connection, "" = none
	ForbidDSNPassword  bool          // refuse a DSN that carries a password
	UnverifiedPassword PasswordGrade // what a password may go through to an unverified server

	AllowedNetworks Networks // where a connection may be made
	AllowedHosts    Hosts    // the hosts a configuration may name
	// AllowLoopbackPlaintext permits an sslmode weaker than MinSSLMode
	// where the address dialed is loopback (a sidecar on the same host).
	AllowLoopbackPlaintext bool

	KeyExchange KeyExchange // any group, or KeyExchangeHybridPQ
	// Pins: a certificate of the verified chain must have one of these
	// keys (SPKI SHA-256), beside the verification, never instead of it.
	Pins Pins
	// PinFile holds the pins instead, read again when it changes. Load
	// puts its first version in Pins.
	PinFile string

	ForbidSuperuser bool          // refuse a session whose role can reach superuser
	ConnectTimeout  time.Duration // where the configuration sets none; 0 waits forever
	ApplicationName string        // where the configuration sets none; "": the executable's base name
	OperationSpans  bool          // SECUREPG_OPERATION_SPANS (telemetry, not policy)

	// Sources maps each variable name to where its value came from:
	// SourceDefault, the variable itself, or the option that set it.
	Sources map[string]string
	// Logger (nil: slog.Default()) is told once per episode that a key
	// file is missing or unreadable and its last good version is used.
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
// records source as its origin. Errors name source, never the value: a
// secret set in the wrong variable must not end up in a log.
func (p *Policy) Set(variable, value, source string) error {
	st := setting(variable)
	if variable == SettingDriver {
		st = &driverSetting
	}
	if st == nil {
		return settingError(variable, "securepg: unknown policy variable %s", variable)
	}
	switch want, err := st.parse(p, value); {
	case err == errInvalid:
		return settingError(source, "securepg: invalid %s: want %s", source, want)
	case err != nil:
		return settingError(source, "securepg: invalid %s: %w", source, err)
	}
	if p.Sources == nil {
		p.Sources = make(map[string]string)
	}
	p.Sources[variable] = source
	return nil
}

// driverSetting is SettingDriver's parse, outside Settings: no variable sets it.
var driverSetting = Setting{parse: choice(`the driver name "securepg" (pgx) or "securepg-pq" (lib/pq)`,
	func(v string) (string, bool) { return v, v == DriverPgx || v == DriverPQ }, func(p *Policy, v string) { p.Driver = v })}

// PasswordGrade is what a credential may go through to a server whose
// identity is unverified (SECUREPG_ALLOW_UNVERIFIED_PASSWORD).
type PasswordGrade uint8

// The grades, strictest first.
const (
	// PasswordBound: SCRAM with channel binding only, which a man in the
	// middle can neither read nor relay ("false").
	PasswordBound PasswordGrade = iota
	// PasswordSCRAM: SCRAM-SHA-256, bound or not ("scram"): a man in the
	// middle can relay the login; for poolers, which cannot bind.
	PasswordSCRAM
	// PasswordAny: anything the server asks for, cleartext included ("true").
	PasswordAny
)

var passwordGrades = [...]string{PasswordBound: "false", PasswordSCRAM: "scram", PasswordAny: "true"}

func (g PasswordGrade) String() string {
	if int(g) < len(passwordGrades) {
		return passwordGrades[g]
	}
	return "false"
}

func parsePasswordGrade(s string) (PasswordGrade, bool) {
	i := slices.Index(passwordGrades[:], strings.ToLower(s))
	return PasswordGrade(max(i, 0)), i >= 0
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

// Load reads the files the policy names, so that a connector fails at
// creation. Errors name the variable or option that set the file.
func (p *Policy) Load() error {
	ctx := context.Background()
	p.roots, p.clientCert, p.PinsFile = nil, nil, nil
	if p.PinFile != "" {
		if len(p.Pins) > 0 && p.Sources[EnvPinSHA256] != SourceDefault {
			return settingError(p.Sources[EnvPinSHA256File], "securepg: %s and %s are both set: set one", p.Sources[EnvPinSHA256], p.Sources[EnvPinSHA256File])
		}
		m := Watched(*p, NewMaterial("pins", parsePinFile, p.PinFile))
		if err := m.Load(ctx); err != nil {
			return settingError(p.Sources[EnvPinSHA256File], "securepg: %s: %w", p.Sources[EnvPinSHA256File], err)
		}
		p.PinsFile, p.Pins = m, m.val
	}
	if p.RootCert != "" && p.RootCert != "system" {
		m := Watched(*p, NewMaterial("root certificates", ParseRoots, p.RootCert))
		if err := m.Load(ctx); err != nil {
			return settingError(p.Sources[EnvSSLRootCert], "securepg: %s: %w", p.Sources[EnvSSLRootCert], err)
		}
		p.roots = m
	}
	if p.RootCert == "system" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return settingError(p.Sources[EnvSSLRootCert], "securepg: %s=system: %w", p.Sources[EnvSSLRootCert], err)
		}
		p.roots = StaticMaterial("root certificates", &Roots{Pool: pool, Public: true})
	}
	if (p.ClientCert == "") != (p.ClientKey == "") {
		return settingError(EnvSSLCert, "securepg: %s and %s must be set together", EnvSSLCert, EnvSSLKey)
	}
	if p.ClientCert != "" {
		m := Watched(*p, NewMaterial("client certificate", ParseKeyPair, p.ClientCert, p.ClientKey))
		if err := m.Load(ctx); err != nil {
			return settingError(p.Sources[EnvSSLCert], "securepg: %s/%s: %w", p.Sources[EnvSSLCert], p.Sources[EnvSSLKey], err)
		}
		p.clientCert = m
	}
	return nil
}

// Roots returns the org root certificates loaded by Load (see Material), or nil.
func (p *Policy) Roots() *Material[*Roots] { return p.roots }

// ClientCertificate returns the org client certificate loaded by Load, or nil.
func (p *Policy) ClientCertificate() *Material[*tls.Certificate] { return p.clientCert }

var tlsVersionNames = map[uint16]string{0: "none", tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1",
	tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}

// TLSVersionName spells a TLS version as PostgreSQL does (TLSv1.3).
func TLSVersionName(v uint16) string {
	if s, ok := tlsVersionNames[v]; ok {
		return s
	}
	return fmt.Sprintf("0x%04x", v)
}

// ParseTLSVersionName reads PostgreSQL's spelling of a TLS version.
func ParseTLSVersionName(s string) (uint16, bool) {
	if s == "TLSv1.0" {
		s = "TLSv1"
	}
	for v, name := range tlsVersionNames {
		if name == s && v != 0 {
			return v, true
		}
	}
	return 0, false
}
