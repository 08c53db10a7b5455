package core

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Setting is one org-wide setting, declared once: the environment, the
// options, securepg policy and (by tests) the docs follow this table.
type Setting struct {
	Env     string // the variable
	Option  string // the securepg option that sets it in code
	Default string // the value in force when nothing sets it, as Show prints it
	Doc     string // one line: what it does
	// parse assigns the value to p; on an invalid value it returns what
	// is wanted (never the value itself: it may be a secret set in the
	// wrong variable).
	parse func(p *Policy, value string) (want string, err error)
	// Show is the value in force in p.
	Show func(p Policy) string
}

// Settings is every SECUREPG_* setting, in documentation order.
var Settings = []Setting{
	{Env: EnvMinSSLMode, Option: "WithMinSSLMode", Default: "verify-full", Doc: "the weakest sslmode: disable < allow < prefer < require < verify-ca < verify-full",
		parse: choice("disable, allow, prefer, require, verify-ca or verify-full", func(v string) (SSLMode, bool) {
			m, err := ParseSSLMode(v)
			return m, err == nil
		}, func(p *Policy, m SSLMode) { p.MinSSLMode = m }),
		Show: func(p Policy) string { return p.MinSSLMode.String() }},
	{Env: EnvMinTLSVersion, Option: "WithMinTLSVersion", Default: "1.2", Doc: "the oldest TLS version: 1.2 or 1.3",
		parse: choice(`"1.2" or "1.3"`, func(v string) (uint16, bool) {
			v, _ = strings.CutPrefix(v, "TLSv")
			n, ok := ParseTLSVersionName("TLSv" + v)
			return n, ok && n >= tls.VersionTLS12
		}, func(p *Policy, v uint16) { p.MinTLSVersion = v }),
		Show: func(p Policy) string {
			v := strings.TrimPrefix(TLSVersionName(p.MinTLSVersion), "TLSv")
			if p.OffersOnlyHybrid() && p.MinTLSVersion < tls.VersionTLS13 {
				v += " (1.3 in effect: " + EnvTLSKeyExchange + "=hybrid-pq)"
			}
			return v
		}},
	textSetting(EnvSSLRootCert, "WithRootCert", "(none)", "a CA bundle path, or system: the roots where the configuration names none",
		func(p *Policy) *string { return &p.RootCert }),
	textSetting(EnvSSLCert, "WithClientCert", "(none)", "a client certificate (PEM) for mutual TLS where the configuration names none",
		func(p *Policy) *string { return &p.ClientCert }),
	textSetting(EnvSSLKey, "WithClientCert", "(none)", "its key (PEM)",
		func(p *Policy) *string { return &p.ClientKey }),
	{Env: EnvMode, Option: "WithMode", Default: "enforce", Doc: "enforce (refuse), or audit (connect and report)",
		parse: choice(`"enforce" or "audit"`, func(v string) (bool, bool) {
			return v == "audit", v == "enforce" || v == "audit"
		}, func(p *Policy, audit bool) { p.Audit = audit }),
		Show: func(p Policy) string { return p.ModeName() }},
	boolSetting(EnvAllowUnixSocket, "WithAllowUnixSocket", "false", "true: unix sockets (never TLS) are allowed",
		func(p *Policy) *bool { return &p.AllowUnixSocket }),
	boolSetting(EnvAllowLoopPlain, "WithAllowLoopbackPlaintext", "false", "true: a weaker sslmode, only where the dialed address is loopback",
		func(p *Policy) *bool { return &p.AllowLoopbackPlaintext }),
	textSetting(EnvPasswordFile, "WithPasswordFile", "(none)", "a file holding the password, read for every new connection",
		func(p *Policy) *string { return &p.PasswordFile }),
	boolSetting(EnvForbidDSNPass, "WithForbidDSNPassword", "false", "true: a DSN that carries a password is refused",
		func(p *Policy) *bool { return &p.ForbidDSNPassword }),
	{Env: EnvAllowUnverPass, Option: "WithAllowUnverifiedPassword", Default: "false", Doc: "to an unverified server: false (SCRAM with channel binding), scram, or true (anything)",
		parse: choice(`"false", "scram" or "true"`, parsePasswordGrade, func(p *Policy, g PasswordGrade) { p.UnverifiedPassword = g }),
		Show:  func(p Policy) string { return p.UnverifiedPassword.String() }},
	{Env: EnvAllowedNetworks, Option: "WithAllowedNetworks", Default: "(any)", Doc: "CIDR ranges, private, loopback: where a connection may be made",
		parse: parsed(ParseNetworks, func(p *Policy, n Networks) { p.AllowedNetworks = n }),
		Show:  func(p Policy) string { return or(p.AllowedNetworks.String(), "(any)") }},
	{Env: EnvAllowedHosts, Option: "WithAllowedHosts", Default: "(any)", Doc: "names and *.suffix patterns a configuration may name",
		parse: parsed(ParseHosts, func(p *Policy, h Hosts) { p.AllowedHosts = h }),
		Show:  func(p Policy) string { return or(p.AllowedHosts.String(), "(any)") }},
	boolSetting(EnvForbidSuperuser, "WithForbidSuperuser", "false", "true: a role that can reach superuser or the server's OS is refused",
		func(p *Policy) *bool { return &p.ForbidSuperuser }),
	{Env: EnvConnectTimeout, Option: "WithConnectTimeout", Default: "10s", Doc: "a duration, or seconds: a connect's bound where the configuration sets none",
		parse: choice(`a duration ("10s", or seconds as an integer); "0" waits forever`, parseTimeout,
			func(p *Policy, d time.Duration) { p.ConnectTimeout = d }),
		Show: func(p Policy) string {
			if p.ConnectTimeout == 0 {
				return "0 (waits forever)"
			}
			return p.ConnectTimeout.String()
		}},
	textSetting(EnvAppName, "WithApplicationName", "(the executable's name)", "the application_name where the configuration sets none",
		func(p *Policy) *string { return &p.ApplicationName }),
	{Env: EnvTLSKeyExchange, Option: "WithTLSKeyExchange", Default: "any", Doc: "any, or hybrid-pq: only hybrid post-quantum groups, TLS 1.3",
		parse: choice(`"any" or "hybrid-pq"`, parseKeyExchange, func(p *Policy, k KeyExchange) { p.KeyExchange = k }),
		Show:  func(p Policy) string { return p.KeyExchange.String() }},
	{Env: EnvPinSHA256, Option: "WithPinSHA256", Default: "(none)", Doc: "base64 SHA-256 SPKI hashes; one must be in the verified chain",
		parse: parsed(ParsePins, func(p *Policy, pins Pins) { p.Pins = pins }),
		Show:  func(p Policy) string { return or(p.Pins.String(), "(none)") }},
	{Env: EnvPinSHA256File, Option: "WithPinSHA256File", Default: "(none)", Doc: "a file of such hashes, read again when it changes (for a rotation)",
		parse: text(func(p *Policy) *string { return &p.PinFile }),
		Show:  func(p Policy) string { return or(SafeText(p.PinFile), "(none)") }},
	boolSetting(EnvOperationSpans, "WithOperationSpans", "true", "false: operations get no span (connect spans and metrics stay)",
		func(p *Policy) *bool { return &p.OperationSpans }),
}

// errInvalid marks a value a setting's parse refuses with what it wants.
var errInvalid = fmt.Errorf("invalid value")

// EnvVars lists the variables of Settings, in documentation order.
var EnvVars = func() []string {
	out := make([]string, len(Settings))
	for i, s := range Settings {
		out[i] = s.Env
	}
	return out
}()

// SettingsDoc renders the table as the package documentation shows it.
func SettingsDoc() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, s := range Settings {
		fmt.Fprintf(w, "%s\t%s\t(%s)\n", s.Env, s.Doc, strings.TrimSuffix(strings.TrimPrefix(s.Default, "("), ")"))
	}
	w.Flush()
	return b.String()
}

// setting is the declaration of variable, or nil.
func setting(variable string) *Setting {
	for i := range Settings {
		if Settings[i].Env == variable {
			return &Settings[i]
		}
	}
	return nil
}

// choice is the parse of a setting whose values parse reads, and set assigns.
func choice[T any](want string, parse func(string) (T, bool), set func(*Policy, T)) func(*Policy, string) (string, error) {
	return func(p *Policy, v string) (string, error) {
		x, ok := parse(v)
		if !ok {
			return want, errInvalid
		}
		set(p, x)
		return "", nil
	}
}

// parsed is the parse of a setting whose parser says itself what is wrong.
func parsed[T any](parse func(string) (T, error), set func(*Policy, T)) func(*Policy, string) (string, error) {
	return func(p *Policy, v string) (string, error) {
		x, err := parse(v)
		set(p, x)
		return "", err
	}
}

// textSetting is a setting that takes any text, shown as def when empty.
func textSetting(env, option, def, doc string, field func(*Policy) *string) Setting {
	return Setting{Env: env, Option: option, Default: def, Doc: doc,
		parse: text(field), Show: func(p Policy) string { return or(*field(&p), def) }}
}

func text(field func(*Policy) *string) func(*Policy, string) (string, error) {
	return func(p *Policy, v string) (string, error) { *field(p) = v; return "", nil }
}

// boolSetting is a true/false setting, in any case.
func boolSetting(env, option, def, doc string, field func(*Policy) *bool) Setting {
	return Setting{Env: env, Option: option, Default: def, Doc: doc,
		parse: choice(`"true" or "false"`, func(v string) (bool, bool) {
			v = strings.ToLower(v)
			return v == "true", v == "true" || v == "false"
		}, func(p *Policy, b bool) { *field(p) = b }),
		Show: func(p Policy) string { return strconv.FormatBool(*field(&p)) }}
}

func or(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
