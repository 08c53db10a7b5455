package core

import (
	"net"
	"strconv"
	"time"
)

// A Plan is everything an underlying driver will try for one DSN, judged
// after hardening: one Target per host, each with its ordered attempts.
type Plan struct {
	Driver  string
	Targets []Target

	// Configured user and database, and whether the DSN itself carries a
	// password (not the environment or a passfile).
	User, Database string
	DSNPassword    bool

	// Password: a password is configured where securepg can see it before
	// connecting (DSN, PGPASSWORD, service file, pgx's passfile entry,
	// SECUREPG_PASSWORD_FILE, a credential provider). A BeforeConnect hook
	// or lib/pq's passfile can add one per connection.
	Password bool
	// WeakAuth names a setting that weakens pgx's authentication below
	// what the password protection demands ("channel_binding=disable"),
	// or "".
	WeakAuth string

	// ConnectTimeout bounds each connect (0: none), and
	// ConnectTimeoutSource says who set it: the DSN, the service file,
	// PGCONNECT_TIMEOUT, or the policy (SECUREPG_CONNECT_TIMEOUT, an
	// option, or securepg's default).
	ConnectTimeout       time.Duration
	ConnectTimeoutSource string
	// AppName is the application_name the server sees, and AppNameSource
	// who set it.
	AppName, AppNameSource string
}

// Target is one host of a (possibly multi-host) DSN.
type Target struct {
	Host     string // host name, IP address or unix socket directory
	Hostaddr string // lib/pq's hostaddr, the address actually dialed
	Port     uint16
	Network  string  // "tcp" or "unix"
	Mode     SSLMode // the effective sslmode of this host's attempts
	// ModeFrom says who chose Mode when the configuration (DSN, PGSSLMODE,
	// service file) sets no sslmode: ModeFromPolicy, the policy's minimum
	// applied with its roots; ModeFromDriver, the driver's default, kept
	// because nothing names roots the minimum could verify with. "" when
	// the configuration set it.
	ModeFrom string

	// Attempts is what is tried for this host, in order: for
	// sslmode=prefer a TLS attempt then a plaintext one.
	Attempts []Attempt

	RootCA     string // where the trusted roots come from ("" = none, "system", a path, "sslrootcert (inline)")
	ClientCert string // the client certificate path, "" = none

	// RootFromPolicy and CertFromPolicy: the roots (client certificate)
	// are the policy's (SECUREPG_SSLROOTCERT, WithRootCert, ...), as the
	// configuration named none.
	RootFromPolicy, CertFromPolicy bool
	MinTLS                         uint16 // the lowest TLS version the client will accept
	MaxTLS                         uint16 // the highest, 0 = no limit
	Custom                         bool   // lib/pq sslmode=pqgo-*: a registered tls.Config securepg cannot inspect
	PublicRoots                    bool   // the root file holds a root the system store trusts
	NoName                         bool   // verify-full with no host name to check (hostaddr alone)
}

// Who chose a Target's sslmode when the configuration set none.
const (
	ModeFromPolicy = "policy"
	ModeFromDriver = "driver default"
)

// Attempt is one connection attempt to a Target.
type Attempt struct {
	TLS    bool
	Verify Verification // meaningful when TLS
}

// Addr is host:port, or the socket directory for unix sockets. It never
// contains credentials.
func (t Target) Addr() string {
	if t.Network == "unix" {
		return t.Host
	}
	h := t.Host
	if h == "" {
		h = t.Hostaddr
	}
	return net.JoinHostPort(h, strconv.Itoa(int(t.Port)))
}

// IdentityVerified reports whether t's TLS attempts prove who the server
// is: verify-full, or verify-ca against roots that are not the public
// system store, nor hold one of its CAs (any public CA signs an
// attacker's own name).
func (t Target) IdentityVerified() bool {
	switch t.Verify() {
	case VerifyFull:
		return true
	case VerifyCA:
		return t.RootCA != "system" && !t.PublicRoots
	}
	return false
}

// HasPlaintext reports whether one of t's attempts is plaintext.
func (t Target) HasPlaintext() bool {
	for _, a := range t.Attempts {
		if !a.TLS {
			return true
		}
	}
	return false
}

// Verify is the verification of the target's TLS attempts.
func (t Target) Verify() Verification {
	for _, a := range t.Attempts {
		if a.TLS {
			return a.Verify
		}
	}
	return VerifyNone
}

// ModeFromAttempts names the sslmode that produces attempts, as pgx lays
// them out: [plain] disable, [plain, tls] allow, [tls, plain] prefer, and a
// single TLS attempt by its verification level.
func ModeFromAttempts(a []Attempt) SSLMode {
	switch {
	case len(a) == 2 && !a[0].TLS && a[1].TLS:
		return ModeAllow
	case len(a) == 2 && a[0].TLS && !a[1].TLS:
		return ModePrefer
	case len(a) == 1 && !a[0].TLS:
		return ModeDisable
	case len(a) == 1:
		switch a[0].Verify {
		case VerifyFull:
			return ModeVerifyFull
		case VerifyCA:
			return ModeVerifyCA
		default:
			return ModeRequire
		}
	}
	return ModeUnknown
}
