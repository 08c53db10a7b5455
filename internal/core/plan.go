package core

import (
	"net"
	"slices"
	"strconv"
	"time"
)

// A Plan is everything an underlying driver will try for one DSN, judged
// after hardening: one Target per host, each with its ordered attempts.
type Plan struct {
	Driver  string
	Targets []Target

	User, Database string
	DSNPassword    bool // the DSN itself carries a password

	// Password: a password is configured where securepg can see it before
	// connecting (a hook can add one per connection, and lib/pq's passfile
	// one per host: Target.Passfile).
	Password bool
	WeakAuth string // a setting that weakens pgx's authentication ("channel_binding=disable")

	ConnectTimeout         time.Duration // bounds each connect (0: none)
	ConnectTimeoutSource   string        // who set it
	AppName, AppNameSource string        // the application_name the server sees, and who set it
}

// Target is one host of a (possibly multi-host) DSN.
type Target struct {
	Host     string // host name, IP address or unix socket directory
	Hostaddr string // lib/pq's hostaddr, the address actually dialed
	Port     uint16
	Network  string  // "tcp" or "unix"
	Mode     SSLMode // the effective sslmode of this host's attempts
	// ModeFrom says who chose Mode when the configuration sets no sslmode:
	// ModeFromPolicy (the minimum, with the policy's roots) or
	// ModeFromDriver (no roots to verify with); "" when it set one.
	ModeFrom string
	// ModeSource is the sslmode the configuration wrote and where (DSN,
	// service file, PGSSLMODE), for messages: require with root
	// certificates is verify-ca.
	ModeSource Source
	Attempts   []Attempt // what is tried for this host, in order

	RootCA     string // where the trusted roots come from ("" = none, "system", a path, "sslrootcert (inline)")
	ClientCert string // the client certificate path, "" = none

	// RootFromPolicy and CertFromPolicy: the roots (client certificate)
	// are the policy's, as the configuration named none.
	RootFromPolicy, CertFromPolicy bool
	MinTLS                         uint16 // the lowest TLS version the client will accept
	MaxTLS                         uint16 // the highest, 0 = no limit
	Custom                         bool   // lib/pq sslmode=pqgo-*: a registered tls.Config securepg cannot inspect
	PublicRoots                    bool   // the root file holds a root the system store trusts
	NoName                         bool   // verify-full with no host name to check (hostaddr alone)
	// Passfile: the passfile holds a password for this host as it stood
	// when the plan was made (lib/pq: read again at each connect).
	Passfile bool
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

// Addr is host:port, or the socket directory for unix sockets.
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
// is: verify-full, or verify-ca against roots that hold no public CA (any
// public CA signs an attacker's own name).
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
	return slices.ContainsFunc(t.Attempts, func(a Attempt) bool { return !a.TLS })
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
