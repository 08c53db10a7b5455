package pqconn

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/securepg/securepg/internal/core"

	"github.com/lib/pq"
)

// PQConfig is a lib/pq configuration hardened by a policy. securepg owns
// the dial, the TLS handshake and the loop over hosts; lib/pq speaks the
// protocol over the validated connection and never reads a certificate
// file, so what was judged at sql.Open happens at every connect (a root
// file missing later cannot mean an unverified connection) and the
// context bounds the whole negotiation.
type PQConfig struct {
	dsnPassword bool      // the DSN itself carries the password
	passfile    string    // the configuration's passfile setting, "" for lib/pq's default
	base        pq.Config // one host's configuration, without lib/pq's TLS
	core.PQNet
	targets []core.PQTarget
	tsa     pq.TargetSessionAttrs
	random  bool // load_balance_hosts=random

	// ServerView: every new connection reads the server's view of its TLS
	// (pg_stat_ssl); without it, only under a recording connect span. No
	// validation decision depends on it.
	ServerView bool
}

// PreparePQ parses dsn with lib/pq's own parser (pq.NewConfig: defaults,
// PG* variables, service file, DSN), hardens it for p and returns the plan
// of what securepg will try.
func PreparePQ(dsn string, p core.Policy) (*PQConfig, core.Plan, error) {
	if err := core.CheckDSN(core.DriverPQ, dsn); err != nil {
		return nil, core.Plan{}, err
	}
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, core.Plan{}, core.ParseError(core.DriverPQ, dsn, err)
	}
	if keys := core.UnsupportedKeys(core.UnsupportedPQ, cfg.Runtime); len(keys) > 0 {
		return nil, core.Plan{}, &core.DSNError{Driver: core.DriverPQ, Msg: "lib/pq does not support " + strings.Join(keys, ", ") +
			": it would send the value to the server as a setting; remove it, or use the pgx driver"}
	}
	pc, plan, err := hardenPQ(cfg, p, core.Sources(core.DriverPQ, dsn, os.LookupEnv))
	if err != nil {
		return nil, core.Plan{}, core.RedactedError(dsn, err)
	}
	plan.User, plan.Database, plan.DSNPassword = cfg.User, cfg.Database, core.DSNHasPassword(core.DriverPQ, dsn)
	pc.dsnPassword, pc.passfile = plan.DSNPassword, cfg.Passfile
	plan.Password = cfg.Password != ""
	if !plan.Password {
		// The passfile's entries are judged now as a configured password
		// is (and again at each connect, which reads the file anew).
		b, err := readPassfile(context.Background(), pc.base)
		if err != nil {
			return nil, core.Plan{}, err
		}
		for i, t := range pc.targets {
			c := pc.base
			c.Host, c.Port = t.PQHost, t.Port
			has := passfileEntry(b, c) != ""
			pc.targets[i].Passfile, plan.Targets[i].Passfile = has, has
		}
	}
	return pc, plan, nil
}

// pqModes are lib/pq's sslmodes; in those from prefer on (pqModes[2:]) it
// looks for ~/.postgresql/root.crt.
var pqModes = []pq.SSLMode{pq.SSLModeDisable, pq.SSLModeAllow, pq.SSLModePrefer, pq.SSLModeRequire, pq.SSLModeVerifyCA, pq.SSLModeVerifyFull}

func hardenPQ(cfg pq.Config, p core.Policy, src map[string]core.Source) (*PQConfig, core.Plan, error) {
	ctx := context.Background()
	home := pqHome()
	mode, modeFrom := pqMode(cfg, p, src, home)
	custom := strings.HasPrefix(string(mode), "pqgo-")
	r, err := pqRoots(ctx, cfg, p, home, mode)
	if err != nil {
		return nil, core.Plan{}, err
	}
	cert, certDesc, certPolicy, err := pqClientCert(ctx, cfg, home, p)
	if err != nil {
		return nil, core.Plan{}, err
	}
	var chain [][]byte
	if cert != nil && len(r.pem) > 0 {
		chain = core.Intermediates(r.pem)
	}
	level, attempts := pqAttempts(mode, custom, r.usable)
	if level >= core.VerifyCA && r.desc == "" {
		r.desc = "system"
	}
	public := level == core.VerifyCA && len(r.pem) > 0 && core.PublicRoots(r.pem)
	minTLS := max(pqTLS(cfg.SSLMinProtocolVersion), tls.VersionTLS12, p.MinTLSVersion)
	maxTLS := pqTLS(cfg.SSLMaxProtocolVersion)

	pc := &PQConfig{PQNet: core.PQNet{Policy: p, Lookup: net.DefaultResolver.LookupHost, ServerError: serverError}, tsa: cfg.TargetSessionAttrs,
		random: cfg.LoadBalanceHosts == pq.LoadBalanceHostsRandom}
	plan := core.Plan{Driver: core.DriverPQ}
	for _, h := range pqHosts(cfg, src) {
		t := core.PQTarget{PQHost: h.host, PQHostaddr: h.addr, HostIP: h.ip, Custom: custom,
			Target: core.Target{Host: h.host, Hostaddr: h.addr, Port: h.port, Network: "tcp", Attempts: attempts, ModeSource: src["sslmode"],
				RootCA: r.desc, ClientCert: certDesc, Custom: custom, MinTLS: minTLS, MaxTLS: maxTLS, PublicRoots: public,
				RootFromPolicy: r.fromOrg && r.desc != "", CertFromPolicy: certPolicy}}
		if !h.set && h.addr != "" {
			t.Host = "" // hostaddr alone: lib/pq's default host name is no name
		}
		if port := strconv.Itoa(int(h.port)); h.addr == "" && isUnixHost(h.host) {
			t.Network, t.DialNet, t.DialAddr = "unix", "unix", filepath.Join(h.host, ".s.PGSQL."+port)
			t.Attempts = []core.Attempt{{}}
		} else {
			t.DialNet, t.DialAddr = "tcp", net.JoinHostPort(cmp.Or(h.addr, h.host), port)
		}
		t.Mode = core.ModeFromAttempts(t.Attempts)
		if t.Network == "tcp" {
			t.ModeFrom = modeFrom
		}
		if custom {
			t.Mode = core.ModeRequire
		}
		if t.Network == "tcp" && !custom && mode != pq.SSLModeDisable {
			t.Allow, t.Prefer = mode == pq.SSLModeAllow, mode == pq.SSLModePrefer
			sni := ""
			if cfg.SSLSNI {
				sni = core.ServerName(t.Host)
			}
			t.TLS = core.NewClientTLS(core.TLSAuth{Level: level, Roots: r.roots, Later: r.later, Name: t.Host, MinTLS: minTLS, Pins: p.PinsFile},
				sni, cfg.SSLNegotiation == pq.SSLNegotiationDirect, maxTLS, cert, chain, p.OffersOnlyHybrid())
			t.NoName = level == core.VerifyFull && t.Host == ""
		}
		pc.targets = append(pc.targets, t)
		plan.Targets = append(plan.Targets, t.Target)
	}
	pc.base = pqBase(cfg, p, src, custom, &plan)
	return pc, plan, nil
}

// pqMode is the sslmode lib/pq's connection is judged and made with, and
// who chose it where the configuration set none (Target.ModeFrom).
func pqMode(cfg pq.Config, p core.Policy, src map[string]core.Source, home string) (mode pq.SSLMode, modeFrom string) {
	mode = cfg.SSLMode
	firstUnix := !cfg.Hostaddr.IsValid() && isUnixHost(cfg.Host)
	if firstUnix && cfg.SSLMode == pq.SSLModeDisable {
		// lib/pq turns TLS off for every host when the first is a unix
		// socket; securepg gives the TCP hosts what was asked, as libpq.
		if m := pq.SSLMode(src["sslmode"].Value); m == "" || slices.Contains(pqModes, m) {
			mode = m
		}
	}
	custom := strings.HasPrefix(string(mode), "pqgo-")
	// No sslmode set (lib/pq's default is require): lift it to a stronger
	// policy minimum where some roots are named, else keep it to be judged
	// as such. Never lower what lib/pq itself reads: lift only a weaker mode.
	pqm, perr := core.ParseSSLMode(string(mode))
	if mode == "" {
		pqm, perr = core.ModeRequire, nil
	}
	if core.ImplicitSSLMode(src) && !custom && p.MinSSLMode > core.ModeRequire && (perr != nil || pqm < p.MinSSLMode) {
		modeFrom = core.ModeFromDriver
		if cfg.SSLRootCert != "" || p.RootCert != "" || home != "" && !cfg.SSLInline && fileExists(filepath.Join(home, "root.crt")) {
			mode, modeFrom = pq.SSLMode(p.MinSSLMode.String()), core.ModeFromPolicy
		}
	}
	return mode, modeFrom
}

// pqRootSet is the roots a lib/pq configuration verifies with.
type pqRootSet struct {
	roots   *core.Material[*core.Roots] // nil: none, or the system's
	later   *core.Material[*core.Roots] // a root file that does not exist yet, which lib/pq looks for at every connect
	pem     []byte
	usable  bool   // a root file makes require verify-ca, as in libpq
	desc    string // how check names them; "" none
	fromOrg bool   // the policy's (SECUREPG_SSLROOTCERT)
}

// pqRoots finds the roots as lib/pq does: the configured sslrootcert,
// else ~/.postgresql/root.crt in the modes that look for it (for allow,
// the TLS retry is a require), else the org's.
func pqRoots(ctx context.Context, cfg pq.Config, p core.Policy, home string, mode pq.SSLMode) (pqRootSet, error) {
	tlsMode := mode
	if mode == pq.SSLModeAllow {
		tlsMode = pq.SSLModeRequire
	}
	var r pqRootSet
	rootPath := cfg.SSLRootCert
	switch {
	case cfg.SSLRootCert == "system":
		r.desc = "system"
	case cfg.SSLRootCert != "" && cfg.SSLInline:
		r.desc = "sslrootcert (inline)"
	case cfg.SSLRootCert != "":
		r.desc = cfg.SSLRootCert
	case home != "" && !cfg.SSLInline && slices.Contains(pqModes[2:], tlsMode) && fileExists(filepath.Join(home, "root.crt")):
		rootPath = filepath.Join(home, "root.crt")
		r.desc = rootPath
	case p.RootCert != "":
		rootPath, r.desc = p.RootCert, p.RootCert
	}
	r.fromOrg = rootPath != "" && rootPath == p.RootCert && cfg.SSLRootCert == ""

	// lib/pq ignores a missing root file, except under verify-ca/-full.
	switch {
	case rootPath == "" || rootPath == "system":
	case cfg.SSLInline && !r.fromOrg:
		roots, err := core.ParseRoots([][]byte{[]byte(rootPath)})
		if err != nil {
			return r, errors.New("securepg: sslrootcert (inline): no PEM certificate")
		}
		r.roots, r.pem, r.usable = core.StaticMaterial("root certificates", roots), []byte(rootPath), true
	case r.fromOrg || fileExists(rootPath):
		r.roots = core.Watched(p, core.NewMaterial("root certificates", core.ParseRoots, rootPath))
		if err := r.roots.Load(ctx); err != nil {
			from := "sslrootcert"
			if r.fromOrg {
				from = p.Sources[core.EnvSSLRootCert]
			}
			return r, fmt.Errorf("securepg: %s: %w", from, err)
		}
		r.pem, _ = core.ReadRegularFile(ctx, rootPath, core.MaxKeyFileSize)
		r.usable = true
	case mode == pq.SSLModeVerifyCA || mode == pq.SSLModeVerifyFull:
		return r, fmt.Errorf("securepg: sslrootcert: cannot read root certificates: %w", core.PathError(&os.PathError{Op: "open", Path: rootPath, Err: syscall.ENOENT}))
	default:
		r.desc = "" // judged without it, as lib/pq ignores a missing root file under require
	}
	// A root file that does not exist yet, which lib/pq looks for at every
	// connect: if it appears, securepg verifies with it too.
	switch {
	case r.roots != nil || cfg.SSLInline || rootPath == "system":
	case rootPath != "":
		r.later = core.Watched(p, core.NewMaterial("root certificates", core.ParseRoots, rootPath))
	case home != "" && slices.Contains(pqModes[2:], tlsMode):
		r.later = core.Watched(p, core.NewMaterial("root certificates", core.ParseRoots, filepath.Join(home, "root.crt")))
	}
	return r, nil
}

// pqAttempts lays out the attempts lib/pq makes for mode, and the
// verification its TLS attempts get.
func pqAttempts(mode pq.SSLMode, custom, rootUsable bool) (core.Verification, []core.Attempt) {
	level := core.VerifyNone
	if rootUsable {
		level = core.VerifyCA
	}
	switch {
	case custom:
		return level, []core.Attempt{{TLS: true, Verify: core.VerifyNone}}
	case mode == pq.SSLModeDisable:
		return level, []core.Attempt{{}}
	case mode == pq.SSLModeAllow:
		return level, []core.Attempt{{}, {TLS: true, Verify: level}}
	case mode == pq.SSLModePrefer:
		return level, []core.Attempt{{TLS: true, Verify: level}, {}}
	case mode == "" || mode == pq.SSLModeRequire:
		return level, []core.Attempt{{TLS: true, Verify: level}}
	case mode == pq.SSLModeVerifyCA:
		return core.VerifyCA, []core.Attempt{{TLS: true, Verify: core.VerifyCA}}
	case mode == pq.SSLModeVerifyFull:
		return core.VerifyFull, []core.Attempt{{TLS: true, Verify: core.VerifyFull}}
	}
	return level, nil
}

// pqHost is one host of a lib/pq configuration.
type pqHost struct {
	host string
	set  bool // the host was configured, not lib/pq's default
	ip   netip.Addr
	addr string
	port uint16
}

// pqHosts lists the configuration's hosts. lib/pq fills an empty element
// of a host list (and a missing host) with "localhost", which is no name
// to verify.
func pqHosts(cfg pq.Config, src map[string]core.Source) []pqHost {
	var named []string
	if h := src["host"]; h.Origin != "default" {
		named = strings.Split(h.Value, ",")
	}
	isNamed := func(i int) bool { return i < len(named) && named[i] != "" }
	hosts := []pqHost{{cfg.Host, pqIsSet(cfg, "host") && isNamed(0), cfg.Hostaddr, addrString(cfg.Hostaddr), cfg.Port}}
	for i, m := range cfg.Multi {
		hosts = append(hosts, pqHost{m.Host, m.Host != "" && isNamed(i+1), m.Hostaddr, addrString(m.Hostaddr), m.Port})
	}
	return hosts
}

// pqBase is the configuration lib/pq connects with: one host at a time,
// no TLS of its own, and the policy's connect timeout and
// application_name where the configuration sets none (recorded in plan).
func pqBase(cfg pq.Config, p core.Policy, src map[string]core.Source, custom bool, plan *core.Plan) pq.Config {
	base := cfg.Clone()
	base.Multi = nil
	base.LoadBalanceHosts = pq.LoadBalanceHostsDisable
	base.SSLRootCert, base.SSLCert, base.SSLKey, base.SSLInline = "", "", "", false
	base.SSLNegotiation = ""
	if !custom {
		base.SSLMode = pq.SSLModeDisable
	}
	plan.ConnectTimeout, plan.ConnectTimeoutSource = core.ConnectTimeout(p, src, cfg.ConnectTimeout)
	plan.AppName, plan.AppNameSource = core.AppName(p, src, cfg.ApplicationName)
	base.ConnectTimeout, base.ApplicationName = plan.ConnectTimeout, plan.AppName
	return base
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func isUnixHost(h string) bool { return filepath.IsAbs(h) || strings.HasPrefix(h, "@") }

// pqClientCert loads the client certificate lib/pq would send: sslcert
// and sslkey, else ~/.postgresql/postgresql.crt and .key, else the org's.
func pqClientCert(ctx context.Context, cfg pq.Config, home string, p core.Policy) (*core.Material[*tls.Certificate], string, bool, error) {
	if cfg.SSLInline {
		if cfg.SSLCert == "" && cfg.SSLKey == "" {
			return orgClientCert(ctx, p)
		}
		c, err := core.ParseKeyPair([][]byte{[]byte(cfg.SSLCert), []byte(cfg.SSLKey)})
		if err != nil {
			return nil, "", false, errors.New("securepg: sslcert/sslkey (inline): " + err.Error())
		}
		return core.StaticMaterial("client certificate", c), "sslcert (inline)", false, nil
	}
	certPath, keyPath := cfg.SSLCert, cfg.SSLKey
	if certPath == "" && home != "" {
		certPath = filepath.Join(home, "postgresql.crt")
	}
	if certPath == "" || !fileExists(certPath) {
		if cfg.SSLCert == "" {
			return orgClientCert(ctx, p)
		}
		return nil, "", false, nil // lib/pq sends no certificate when sslcert does not exist
	}
	if keyPath == "" && home != "" {
		keyPath = filepath.Join(home, "postgresql.key")
	}
	if err := keyPermissions(keyPath); err != nil {
		return nil, "", false, fmt.Errorf("securepg: sslkey %s: %w", keyPath, err)
	}
	m := core.Watched(p, core.NewMaterial("client certificate", core.ParseKeyPair, certPath, keyPath))
	if err := m.Load(ctx); err != nil {
		return nil, "", false, fmt.Errorf("securepg: sslcert/sslkey: %w", err)
	}
	return m, certPath, false, nil
}

func orgClientCert(ctx context.Context, p core.Policy) (*core.Material[*tls.Certificate], string, bool, error) {
	if p.ClientCert == "" {
		return nil, "", false, nil
	}
	m := core.Watched(p, core.NewMaterial("client certificate", core.ParseKeyPair, p.ClientCert, p.ClientKey))
	if err := m.Load(ctx); err != nil {
		return nil, "", false, fmt.Errorf("securepg: %s/%s: %w", p.Sources[core.EnvSSLCert], p.Sources[core.EnvSSLKey], err)
	}
	return m, p.ClientCert, true, nil
}

// keyPermissions is lib/pq's check of a private key file: u=rw at most,
// or u=rw,g=r when root owns it.
func keyPermissions(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return core.PathError(err)
	}
	perm := st.Mode().Perm()
	if perm&^0o600 == 0 {
		return nil
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == 0 && perm&^0o640 == 0 {
		return nil
	}
	return errors.New("the private key has group or world access; permissions should be u=rw (0600) or less")
}

// pqIsSet reports whether lib/pq's parser saw a value for key (not a
// default), as its unexported Config.isset does. Without that list it is
// false: an unnamed host is refused rather than verified against a default.
func pqIsSet(cfg pq.Config, key string) bool {
	v := reflect.ValueOf(cfg).FieldByName("set")
	if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.String {
		return false
	}
	for i := 0; i < v.Len(); i++ {
		if v.Index(i).String() == key {
			return true
		}
	}
	return false
}
