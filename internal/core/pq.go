package core

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lib/pq"
)

// PQConfig is a lib/pq configuration hardened by a policy.
type PQConfig struct {
	Conn    pq.Config
	policy  Policy
	targets map[string]Target // by "network address", as lib/pq dials it
}

var tlsVersionPQ = map[uint16]pq.SSLProtocolVersion{
	tls.VersionTLS12: pq.SSLProtocolVersionTLS12,
	tls.VersionTLS13: pq.SSLProtocolVersionTLS13,
}

// PreparePQ parses dsn with lib/pq's own parser (pq.NewConfig: defaults,
// PG* variables, service file, DSN), hardens it for p and returns the plan
// of what lib/pq will try.
func PreparePQ(dsn string, p Policy) (*PQConfig, Plan, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, Plan{}, ParseError(DriverPQ, dsn, err)
	}
	pc, plan, err := hardenPQ(cfg, p)
	if err == nil {
		plan.User, plan.Database, plan.DSNPassword = cfg.User, cfg.Database, DSNHasPassword(dsn)
	}
	return pc, plan, err
}

func hardenPQ(cfg pq.Config, p Policy) (*PQConfig, Plan, error) {
	cfg = cfg.Clone()
	if cur := pqTLS(cfg.SSLMinProtocolVersion); cur < p.MinTLSVersion {
		cfg.SSLMinProtocolVersion = tlsVersionPQ[p.MinTLSVersion]
	}
	home := pqHome()
	homeRoot := ""
	if home != "" && !cfg.SSLInline {
		if f := filepath.Join(home, "root.crt"); fileExists(f) {
			homeRoot = f
		}
	}
	if cfg.SSLRootCert == "" && homeRoot == "" && p.RootCert != "" {
		if cfg.SSLInline {
			if p.RootCert != "system" {
				pem, err := os.ReadFile(p.RootCert)
				if err != nil {
					return nil, Plan{}, errors.New("securepg: " + p.Sources[EnvSSLRootCert] + ": cannot read root certificates")
				}
				cfg.SSLRootCert = string(pem)
			}
		} else {
			cfg.SSLRootCert = p.RootCert
		}
	}
	homeCert := home != "" && !cfg.SSLInline && fileExists(filepath.Join(home, "postgresql.crt"))
	if cfg.SSLCert == "" && !homeCert && p.ClientCert != "" {
		if cfg.SSLInline {
			cert, err1 := os.ReadFile(p.ClientCert)
			key, err2 := os.ReadFile(p.ClientKey)
			if err1 != nil || err2 != nil {
				return nil, Plan{}, errors.New("securepg: cannot read " + EnvSSLCert + "/" + EnvSSLKey)
			}
			cfg.SSLCert, cfg.SSLKey = string(cert), string(key)
		} else {
			cfg.SSLCert, cfg.SSLKey = p.ClientCert, p.ClientKey
		}
	}

	// Describe what lib/pq's ssl() will do with these settings.
	mode := cfg.SSLMode
	custom := strings.HasPrefix(string(mode), "pqgo-")
	root := cfg.SSLRootCert
	if root == "" {
		root = homeRoot
	}
	caFromRoot := root != "" && (cfg.SSLInline || fileExists(root))
	level := VerifyNone
	if caFromRoot {
		level = VerifyCA
	}
	var attempts []Attempt
	switch {
	case custom:
		attempts = []Attempt{{TLS: true, Verify: VerifyNone}}
	case mode == pq.SSLModeDisable:
		attempts = []Attempt{{}}
	case mode == pq.SSLModeAllow:
		attempts = []Attempt{{}, {TLS: true, Verify: level}}
	case mode == pq.SSLModePrefer:
		attempts = []Attempt{{TLS: true, Verify: level}, {}}
	case mode == "" || mode == pq.SSLModeRequire:
		attempts = []Attempt{{TLS: true, Verify: level}}
	case mode == pq.SSLModeVerifyCA:
		attempts = []Attempt{{TLS: true, Verify: VerifyCA}}
	case mode == pq.SSLModeVerifyFull:
		attempts = []Attempt{{TLS: true, Verify: VerifyFull}}
	}
	rootDesc := ""
	switch {
	case root == "system":
		rootDesc = "system"
	case root != "" && cfg.SSLInline:
		rootDesc = "sslrootcert (inline)"
	case root != "":
		rootDesc = root
		if p.RootCert == root && p.Sources[EnvSSLRootCert] != SourceDefault {
			rootDesc = p.Sources[EnvSSLRootCert] + "=" + root
		}
	case mode == pq.SSLModeVerifyFull:
		rootDesc = "system"
	}
	certDesc := cfg.SSLCert
	if cfg.SSLInline && certDesc != "" {
		certDesc = "sslcert (inline)"
	} else if certDesc == "" && homeCert {
		certDesc = filepath.Join(home, "postgresql.crt")
	}

	plan := Plan{Driver: DriverPQ}
	pc := &PQConfig{policy: p, targets: map[string]Target{}}
	type hp struct {
		host string
		addr netip.Addr
		port uint16
	}
	hosts := []hp{{cfg.Host, cfg.Hostaddr, cfg.Port}}
	for _, m := range cfg.Multi {
		hosts = append(hosts, hp{m.Host, m.Hostaddr, m.Port})
	}
	first := true
	for _, h := range hosts {
		t := Target{Host: h.host, Port: h.port, Network: "tcp", Attempts: attempts,
			RootCA: rootDesc, ClientCert: certDesc, Custom: custom,
			MinTLS: pqTLS(cfg.SSLMinProtocolVersion), MaxTLS: pqTLS(cfg.SSLMaxProtocolVersion)}
		if t.MinTLS == 0 {
			t.MinTLS = tls.VersionTLS12
		}
		if h.addr.IsValid() {
			t.Hostaddr = h.addr.String()
		} else if filepath.IsAbs(h.host) || strings.HasPrefix(h.host, "@") {
			t.Network = "unix"
		}
		t.Mode = ModeFromAttempts(attempts)
		if custom {
			t.Mode = ModeRequire
		}
		if mode == pq.SSLModeDisable && !first && t.Network == "tcp" && pqFirstIsUnix(cfg) {
			t.Note = "lib/pq turns TLS off for every host when the first host is a unix socket"
		}
		first = false
		plan.Targets = append(plan.Targets, t)
		pc.targets[t.dialKey()] = t
	}
	pc.Conn = cfg
	return pc, plan, nil
}

func pqFirstIsUnix(cfg pq.Config) bool {
	return !cfg.Hostaddr.IsValid() && (filepath.IsAbs(cfg.Host) || strings.HasPrefix(cfg.Host, "@"))
}

// dialKey is how lib/pq's network() names the target's socket.
func (t Target) dialKey() string {
	if t.Network == "unix" {
		return "unix " + filepath.Join(t.Host, ".s.PGSQL."+strconv.Itoa(int(t.Port)))
	}
	h := t.Host
	if t.Hostaddr != "" {
		h = t.Hostaddr
	}
	return "tcp " + net.JoinHostPort(h, strconv.Itoa(int(t.Port)))
}

// Connector returns a lib/pq connector that dials through the guard. With
// credentials in ctx (CredentialsFrom), it is a connector for them.
func (c *PQConfig) Connector(ctx context.Context) (*pq.Connector, error) {
	cfg := c.Conn
	if user, password, ok := CredentialsFrom(ctx); ok {
		cfg = cfg.Clone()
		if user != "" {
			cfg.User = user
		}
		cfg.Password = password
	}
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	conn.Dialer(&guardDialer{policy: c.policy})
	return conn, nil
}

// pgStatSSL asks the server for its view of this backend's TLS. SHOW ssl
// would report the server's setting, not this connection.
const pgStatSSL = "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

// ValidatePQ proves that a new lib/pq connection is what the policy
// demands: from the guard's view of the bytes that left and the
// ServerHello that came back, and from pg_stat_ssl.
func (c *PQConfig) ValidatePQ(ctx context.Context, conn driver.Conn, rec *Recorder) (Facts, error) {
	p := c.policy
	g := rec.lastOpenGuard()
	if g == nil {
		return Facts{}, &Violation{Reason: ReasonTLSNotEstablished, Got: "unknown", Want: p.MinSSLMode.String(),
			Detail: "the connection did not go through securepg's dialer"}
	}
	t, ok := c.targets[g.network+" "+g.address]
	if !ok {
		t = Target{Host: g.address, Network: g.network}
	}
	f := Facts{Network: g.network, Host: t.Host, Port: t.Port, Mode: t.Mode}
	isTLS, version, cipher, plain := g.tlsView()
	if g.network == "unix" {
		if !p.AllowUnixSocket {
			return f, letThrough(c.policy, &Violation{Reason: ReasonUnixSocket, Host: t.Addr(), Got: "unix socket", Want: "tcp",
				Detail: "the connection went through a unix socket"}, rec)
		}
		return f, nil
	}
	server, err := queryServerSSL(ctx, conn)
	if err != nil {
		return f, err
	}
	f.Server = server
	if !isTLS {
		f.Mode = ModeDisable
		if plain && !p.MinSSLMode.NeedsTLS() {
			return f, nil
		}
		return f, letThrough(c.policy, &Violation{Reason: ReasonTLSNotEstablished, Host: t.Addr(), Got: "plaintext", Want: p.MinSSLMode.String(),
			Detail: "the connection is not encrypted"}, rec)
	}
	f.TLS, f.Version, f.CipherSuite = true, version, cipher
	if len(t.Attempts) > 0 {
		f.Verify = t.Attempts[0].Verify
		for _, a := range t.Attempts {
			if a.TLS {
				f.Verify = a.Verify
			}
		}
	}
	if version < p.MinTLSVersion {
		return f, &Violation{Reason: ReasonTLSVersionTooLow, Host: t.Addr(), Got: TLSVersionName(version), Want: TLSVersionName(p.MinTLSVersion),
			Detail: "the connection uses " + TLSVersionName(version)}
	}
	if f.Verify < p.MinSSLMode.Required() {
		return f, letThrough(c.policy, &Violation{Reason: verifyReason(f.Verify), Host: t.Addr(), Got: f.Verify.String(), Want: p.MinSSLMode.String(),
			Detail: "lib/pq verified " + f.Verify.String() + " only"}, rec)
	}
	return f, nil
}

func queryServerSSL(ctx context.Context, conn driver.Conn) (*ServerSSL, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, pgStatSSL, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 4)
	if err := rows.Next(dest); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	s := &ServerSSL{}
	s.SSL, _ = dest[0].(bool)
	s.Version = asString(dest[1])
	s.Cipher = asString(dest[2])
	if n, ok := dest[3].(int64); ok {
		s.Bits = int(n)
	}
	return s, nil
}

func asString(v driver.Value) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// pqHome is lib/pq's ~/.postgresql.
func pqHome() string {
	home, _ := os.UserHomeDir()
	if home == "" {
		u, err := user.Current()
		if err != nil {
			return ""
		}
		home = u.HomeDir
	}
	return filepath.Join(home, ".postgresql")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func pqTLS(v pq.SSLProtocolVersion) uint16 {
	n, _ := ParseTLSVersionName(string(v))
	return n
}
