package core

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Setting is one org-wide setting, declared once: the environment is read
// from this table, the options name their setting from it, securepg
// policy prints it, and tests hold the package docs, the README and
// docs/policy.md to it.
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
		parse: func(p *Policy, v string) (string, error) {
			m, err := ParseSSLMode(v)
			if err != nil {
				return "disable, allow, prefer, require, verify-ca or verify-full", errInvalid
			}
			p.MinSSLMode = m
			return "", nil
		},
		Show: func(p Policy) string { return p.MinSSLMode.String() }},
	{Env: EnvMinTLSVersion, Option: "WithMinTLSVersion", Default: "1.2", Doc: "the oldest TLS version: 1.2 or 1.3",
		parse: func(p *Policy, v string) (string, error) {
			switch v {
			case "1.2", "TLSv1.2":
				p.MinTLSVersion = tls.VersionTLS12
			case "1.3", "TLSv1.3":
				p.MinTLSVersion = tls.VersionTLS13
			default:
				return `"1.2" or "1.3"`, errInvalid
			}
			return "", nil
		},
		Show: func(p Policy) string {
			v := strings.TrimPrefix(TLSVersionName(p.MinTLSVersion), "TLSv")
			if p.OffersOnlyHybrid() && p.MinTLSVersion < tls.VersionTLS13 {
				v += " (1.3 in effect: " + EnvTLSKeyExchange + "=hybrid-pq)"
			}
			return v
		}},
	{Env: EnvSSLRootCert, Option: "WithRootCert", Default: "(none)", Doc: "a CA bundle path, or system: the roots where the configuration names none",
		parse: text(func(p *Policy) *string { return &p.RootCert }),
		Show:  func(p Policy) string { return orNone(p.RootCert) }},
	{Env: EnvSSLCert, Option: "WithClientCert", Default: "(none)", Doc: "a client certificate (PEM) for mutual TLS where the configuration names none",
		parse: text(func(p *Policy) *string { return &p.ClientCert }),
		Show:  func(p Policy) string { return orNone(p.ClientCert) }},
	{Env: EnvSSLKey, Option: "WithClientCert", Default: "(none)", Doc: "its key (PEM)",
		parse: text(func(p *Policy) *string { return &p.ClientKey }),
		Show:  func(p Policy) string { return orNone(p.ClientKey) }},
	{Env: EnvMode, Option: "WithMode", Default: "enforce", Doc: "enforce (refuse), or audit (connect and report)",
		parse: func(p *Policy, v string) (string, error) {
			switch v {
			case "enforce", "audit":
				p.Audit = v == "audit"
				return "", nil
			}
			return `"enforce" or "audit"`, errInvalid
		},
		Show: func(p Policy) string { return p.ModeName() }},
	{Env: EnvAllowUnixSocket, Option: "WithAllowUnixSocket", Default: "false", Doc: "true: unix sockets (never TLS) are allowed",
		parse: boolean(func(p *Policy) *bool { return &p.AllowUnixSocket }),
		Show:  func(p Policy) string { return strconv.FormatBool(p.AllowUnixSocket) }},
	{Env: EnvAllowLoopPlain, Option: "WithAllowLoopbackPlaintext", Default: "false", Doc: "true: a weaker sslmode, only where the dialed address is loopback",
		parse: boolean(func(p *Policy) *bool { return &p.AllowLoopbackPlaintext }),
		Show:  func(p Policy) string { return strconv.FormatBool(p.AllowLoopbackPlaintext) }},
	{Env: EnvPasswordFile, Option: "WithPasswordFile", Default: "(none)", Doc: "a file holding the password, read for every new connection",
		parse: text(func(p *Policy) *string { return &p.PasswordFile }),
		Show:  func(p Policy) string { return orNone(p.PasswordFile) }},
	{Env: EnvForbidDSNPass, Option: "WithForbidDSNPassword", Default: "false", Doc: "true: a DSN that carries a password is refused",
		parse: boolean(func(p *Policy) *bool { return &p.ForbidDSNPassword }),
		Show:  func(p Policy) string { return strconv.FormatBool(p.ForbidDSNPassword) }},
	{Env: EnvAllowUnverPass, Option: "WithAllowUnverifiedPassword", Default: "false", Doc: "to an unverified server: false (SCRAM with channel binding), scram, or true (anything)",
		parse: func(p *Policy, v string) (string, error) {
			g, ok := parsePasswordGrade(v)
			if !ok {
				return `"false", "scram" or "true"`, errInvalid
			}
			p.UnverifiedPassword = g
			return "", nil
		},
		Show: func(p Policy) string { return p.UnverifiedPassword.String() }},
	{Env: EnvAllowedNetworks, Option: "WithAllowedNetworks", Default: "(any)", Doc: "CIDR ranges, private, loopback: where a connection may be made",
		parse: func(p *Policy, v string) (string, error) {
			n, err := ParseNetworks(v)
			p.AllowedNetworks = n
			return "", err
		},
		Show: func(p Policy) string { return orAny(p.AllowedNetworks.String()) }},
	{Env: EnvAllowedHosts, Option: "WithAllowedHosts", Default: "(any)", Doc: "names and *.suffix patterns a configuration may name",
		parse: func(p *Policy, v string) (string, error) {
			h, err := ParseHosts(v)
			p.AllowedHosts = h
			return "", err
		},
		Show: func(p Policy) string { return orAny(p.AllowedHosts.String()) }},
	{Env: EnvForbidSuperuser, Option: "WithForbidSuperuser", Default: "false", Doc: "true: a role that can reach superuser or the server's OS is refused",
		parse: boolean(func(p *Policy) *bool { return &p.ForbidSuperuser }),
		Show:  func(p Policy) string { return strconv.FormatBool(p.ForbidSuperuser) }},
	{Env: EnvConnectTimeout, Option: "WithConnectTimeout", Default: "10s", Doc: "a duration, or seconds: a connect's bound where the configuration sets none",
		parse: func(p *Policy, v string) (string, error) {
			d, ok := parseTimeout(v)
			if !ok {
				return `a duration ("10s", or seconds as an integer); "0" waits forever`, errInvalid
			}
			p.ConnectTimeout = d
			return "", nil
		},
		Show: func(p Policy) string {
			if p.ConnectTimeout == 0 {
				return "0 (waits forever)"
			}
			return p.ConnectTimeout.String()
		}},
	{Env: EnvAppName, Option: "WithApplicationName", Default: "(the executable's name)", Doc: "the application_name where the configuration sets none",
		parse: text(func(p *Policy) *string { return &p.ApplicationName }),
		Show: func(p Policy) string {
			if p.ApplicationName == "" {
				return "(the executable's name)"
			}
			return p.ApplicationName
		}},
	{Env: EnvTLSKeyExchange, Option: "WithTLSKeyExchange", Default: "any", Doc: "any, or hybrid-pq: only hybrid post-quantum groups, TLS 1.3",
		parse: func(p *Policy, v string) (string, error) {
			k, ok := parseKeyExchange(v)
			if !ok {
				return `"any" or "hybrid-pq"`, errInvalid
			}
			p.KeyExchange = k
			return "", nil
		},
		Show: func(p Policy) string { return p.KeyExchange.String() }},
	{Env: EnvPinSHA256, Option: "WithPinSHA256", Default: "(none)", Doc: "base64 SHA-256 SPKI hashes; one must be in the verified chain",
		parse: func(p *Policy, v string) (string, error) {
			pins, err := ParsePins(v)
			p.Pins = pins
			return "", err
		},
		Show: func(p Policy) string { return orNone(p.Pins.String()) }},
	{Env: EnvPinSHA256File, Option: "WithPinSHA256File", Default: "(none)", Doc: "a file of such hashes, read again when it changes (for a rotation)",
		parse: func(p *Policy, v string) (string, error) {
			p.PinFile = v
			return "", nil
		},
		Show: func(p Policy) string { return orNone(SafeText(p.PinFile)) }},
	{Env: EnvOperationSpans, Option: "WithOperationSpans", Default: "true", Doc: "false: operations get no span (connect spans and metrics stay)",
		parse: func(p *Policy, v string) (string, error) {
			switch strings.ToLower(v) {
			case "true", "false":
				p.OperationSpans = strings.ToLower(v) == "true"
				return "", nil
			}
			return `"true" or "false"`, errInvalid
		},
		Show: func(p Policy) string { return strconv.FormatBool(p.OperationSpans) }},
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

// SettingsDoc renders the table as the package documentation shows it:
// one line per setting, its one-line doc and its default.
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

func text(field func(*Policy) *string) func(*Policy, string) (string, error) {
	return func(p *Policy, v string) (string, error) { *field(p) = v; return "", nil }
}

func boolean(field func(*Policy) *bool) func(*Policy, string) (string, error) {
	return func(p *Policy, v string) (string, error) {
		switch strings.ToLower(v) {
		case "true", "false":
			*field(p) = strings.ToLower(v) == "true"
			return "", nil
		}
		return `"true" or "false"`, errInvalid
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func orAny(s string) string {
	if s == "" {
		return "(any)"
	}
	return s
}
