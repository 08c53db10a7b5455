package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// PQConfig is a lib/pq configuration hardened by a policy. securepg owns
// the dial, the TLS handshake and the loop over hosts; lib/pq speaks the
// protocol over a connection that securepg has already validated. lib/pq
// itself never negotiates TLS and never reads a certificate file, so what
// securepg judged at sql.Open is what happens at every connect: a root
// file that is missing later cannot silently mean an unverified
// connection, and the context bounds the whole negotiation.
type PQConfig struct {
	base    pq.Config // one host's configuration, without lib/pq's TLS
	policy  Policy
	targets []pqTarget
	tsa     pq.TargetSessionAttrs
	random  bool // load_balance_hosts=random

	dialer net.Dialer
	// lookup resolves a host name (a package-private seam for tests).
	lookup func(ctx context.Context, host string) ([]string, error)
}

// pqTarget is one host as securepg dials it for lib/pq.
type pqTarget struct {
	Target
	pqHost     string     // lib/pq's Host for this host
	pqHostaddr string     // lib/pq's Hostaddr, as text
	hostaddr   netip.Addr //
	dialNet    string     // lib/pq's network() for this host
	dialAddr   string     //
	tls        *clientTLS // nil: no TLS (unix socket, sslmode=disable)
	allow      bool       // sslmode=allow: plaintext, then TLS if the server insists
	prefer     bool       // sslmode=prefer: TLS, then plaintext if the server refuses TLS
	custom     bool       // sslmode=pqgo-*: lib/pq's own TLS (only where plaintext is allowed)
}

// PreparePQ parses dsn with lib/pq's own parser (pq.NewConfig: defaults,
// PG* variables, service file, DSN), hardens it for p and returns the plan
// of what securepg will try.
func PreparePQ(dsn string, p Policy) (*PQConfig, Plan, error) {
	if err := checkDSN(DriverPQ, dsn); err != nil {
		return nil, Plan{}, err
	}
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, Plan{}, ParseError(DriverPQ, dsn, err)
	}
	if keys := unsupportedKeys(unsupportedPQ, cfg.Runtime); len(keys) > 0 {
		return nil, Plan{}, &DSNError{Driver: DriverPQ, Msg: "lib/pq does not support " + strings.Join(keys, ", ") +
			": it would send the value to the server as a setting; remove it, or use the pgx driver"}
	}
	pc, plan, err := hardenPQ(cfg, p, Sources(DriverPQ, dsn, os.LookupEnv))
	if err != nil {
		return nil, Plan{}, settingError(dsn, err)
	}
	plan.User, plan.Database, plan.DSNPassword = cfg.User, cfg.Database, DSNHasPassword(DriverPQ, dsn)
	return pc, plan, nil
}

// useSSL is lib/pq's: the modes in which it looks for ~/.postgresql/root.crt.
func useSSL(m pq.SSLMode) bool {
	switch m {
	case pq.SSLModePrefer, pq.SSLModeRequire, pq.SSLModeVerifyCA, pq.SSLModeVerifyFull:
		return true
	}
	return false
}

func hardenPQ(cfg pq.Config, p Policy, src map[string]Source) (*PQConfig, Plan, error) {
	ctx := context.Background()
	mode := cfg.SSLMode
	firstUnix := !cfg.Hostaddr.IsValid() && isUnixHost(cfg.Host)
	if firstUnix && cfg.SSLMode == pq.SSLModeDisable {
		// lib/pq turns TLS off for every host when the first host is a unix
		// socket. securepg does TLS itself, so the TCP hosts get what the
		// configuration asked for, as with libpq.
		if m := pq.SSLMode(src["sslmode"].Value); m == "" || slices.Contains([]pq.SSLMode{pq.SSLModeDisable, pq.SSLModeAllow,
			pq.SSLModePrefer, pq.SSLModeRequire, pq.SSLModeVerifyCA, pq.SSLModeVerifyFull}, m) {
			mode = m
		}
	}
	custom := strings.HasPrefix(string(mode), "pqgo-")
	home := pqHome()

	// The roots, as lib/pq finds them: the configured sslrootcert, else
	// ~/.postgresql/root.crt in the modes that look for it (for allow, the
	// TLS retry is a require), else the org's.
	tlsMode := mode
	if mode == pq.SSLModeAllow {
		tlsMode = pq.SSLModeRequire
	}
	rootPath, rootDesc := cfg.SSLRootCert, ""
	switch {
	case cfg.SSLRootCert == "system":
		rootDesc = "system"
	case cfg.SSLRootCert != "" && cfg.SSLInline:
		rootDesc = "sslrootcert (inline)"
	case cfg.SSLRootCert != "":
		rootDesc = cfg.SSLRootCert
	case home != "" && !cfg.SSLInline && useSSL(tlsMode) && fileExists(filepath.Join(home, "root.crt")):
		rootPath = filepath.Join(home, "root.crt")
		rootDesc = rootPath
	case p.RootCert != "":
		rootPath, rootDesc = p.RootCert, p.RootCert
	}
	fromOrg := rootPath != "" && rootPath == p.RootCert && cfg.SSLRootCert == ""

	// A root file turns require into verify-ca, as in libpq; lib/pq
	// ignores a root file that does not exist (but verify-ca and
	// verify-full cannot do without it).
	var roots *Material[*x509.CertPool]
	var rootPEM []byte
	rootUsable := false
	switch {
	case rootPath == "" || rootPath == "system":
	case cfg.SSLInline && !fromOrg:
		pool, err := parseRoots([][]byte{[]byte(rootPath)})
		if err != nil {
			return nil, Plan{}, errors.New("securepg: sslrootcert (inline): no PEM certificate")
		}
		roots, rootPEM, rootUsable = staticMaterial("root certificates", pool), []byte(rootPath), true
	case fromOrg:
		roots = newMaterial("root certificates", parseRoots, rootPath)
		if err := roots.load(ctx); err != nil {
			return nil, Plan{}, fmt.Errorf("securepg: %s: %w", p.Sources[EnvSSLRootCert], err)
		}
		rootPEM, _ = ReadRegularFile(ctx, rootPath, MaxKeyFileSize)
		rootUsable = true
	case fileExists(rootPath):
		roots = newMaterial("root certificates", parseRoots, rootPath)
		if err := roots.load(ctx); err != nil {
			return nil, Plan{}, fmt.Errorf("securepg: sslrootcert: %w", err)
		}
		rootPEM, _ = ReadRegularFile(ctx, rootPath, MaxKeyFileSize)
		rootUsable = true
	case mode == pq.SSLModeVerifyCA || mode == pq.SSLModeVerifyFull:
		return nil, Plan{}, fmt.Errorf("securepg: sslrootcert: cannot read root certificates: %w", pathError(&os.PathError{Op: "open", Path: rootPath, Err: syscall.ENOENT}))
	default:
		rootDesc = "" // judged without it, as lib/pq ignores a missing root file under require
	}
	// A root file that does not exist yet, which lib/pq looks for at every
	// connect: the configured one, or ~/.postgresql/root.crt. If it
	// appears, securepg verifies with it too (never weaker than judged).
	var later *Material[*x509.CertPool]
	switch {
	case roots != nil || cfg.SSLInline || rootPath == "system":
	case rootPath != "":
		later = newMaterial("root certificates", parseRoots, rootPath)
	case home != "" && useSSL(tlsMode):
		later = newMaterial("root certificates", parseRoots, filepath.Join(home, "root.crt"))
	}

	// The client certificate, as lib/pq finds it: sslcert/sslkey, else
	// ~/.postgresql/postgresql.crt and .key, else the org's.
	cert, certDesc, certPolicy, err := pqClientCert(ctx, cfg, home, p)
	if err != nil {
		return nil, Plan{}, err
	}
	var chain [][]byte
	if cert != nil && len(rootPEM) > 0 {
		chain = intermediates(rootPEM)
	}

	level := VerifyNone
	if rootUsable {
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
		level = VerifyCA
		attempts = []Attempt{{TLS: true, Verify: VerifyCA}}
	case mode == pq.SSLModeVerifyFull:
		level = VerifyFull
		attempts = []Attempt{{TLS: true, Verify: VerifyFull}}
	}
	if level >= VerifyCA && rootDesc == "" {
		rootDesc = "system"
	}

	minTLS := max(pqTLS(cfg.SSLMinProtocolVersion), tls.VersionTLS12, p.MinTLSVersion)
	maxTLS := pqTLS(cfg.SSLMaxProtocolVersion)

	type hostSpec struct {
		host string
		set  bool // the host was configured, not lib/pq's default
		ip   netip.Addr
		addr string
		port uint16
	}
	// Which hosts were named: lib/pq fills an empty element of a host list
	// (and a missing host) with "localhost", which is no name to verify.
	var named []string
	if h := src["host"]; h.Origin != "default" {
		named = strings.Split(h.Value, ",")
	}
	isNamed := func(i int) bool { return i < len(named) && named[i] != "" }
	hosts := []hostSpec{{cfg.Host, pqIsSet(cfg, "host") && isNamed(0), cfg.Hostaddr, addrString(cfg.Hostaddr), cfg.Port}}
	for i, m := range cfg.Multi {
		hosts = append(hosts, hostSpec{m.Host, m.Host != "" && isNamed(i+1), m.Hostaddr, addrString(m.Hostaddr), m.Port})
	}

	pc := &PQConfig{policy: p, tsa: cfg.TargetSessionAttrs, random: cfg.LoadBalanceHosts == pq.LoadBalanceHostsRandom,
		lookup: net.DefaultResolver.LookupHost}
	plan := Plan{Driver: DriverPQ}
	for _, h := range hosts {
		t := pqTarget{pqHost: h.host, pqHostaddr: h.addr, hostaddr: h.ip, custom: custom,
			Target: Target{Host: h.host, Hostaddr: h.addr, Port: h.port, Network: "tcp", Attempts: attempts,
				RootCA: rootDesc, ClientCert: certDesc, Custom: custom, MinTLS: minTLS, MaxTLS: maxTLS,
				RootFromPolicy: fromOrg && rootDesc != "", CertFromPolicy: certPolicy}}
		if !h.set && h.addr != "" {
			t.Host = "" // hostaddr alone: lib/pq's default host name is no name
		}
		port := strconv.Itoa(int(h.port))
		switch {
		case h.addr != "":
			t.dialNet, t.dialAddr = "tcp", net.JoinHostPort(h.addr, port)
		case isUnixHost(h.host):
			t.Network = "unix"
			t.dialNet, t.dialAddr = "unix", filepath.Join(h.host, ".s.PGSQL."+port)
			t.Attempts = []Attempt{{}}
		default:
			t.dialNet, t.dialAddr = "tcp", net.JoinHostPort(h.host, port)
		}
		t.Mode = ModeFromAttempts(t.Attempts)
		if custom {
			t.Mode = ModeRequire
		}
		if t.Network == "tcp" && !custom && mode != pq.SSLModeDisable {
			t.allow, t.prefer = mode == pq.SSLModeAllow, mode == pq.SSLModePrefer
			t.tls = &clientTLS{
				auth:   serverAuth{level: level, roots: roots, later: later, name: t.Host, minTLS: minTLS},
				direct: cfg.SSLNegotiation == pq.SSLNegotiationDirect,
				maxTLS: maxTLS, cert: cert, chain: chain,
			}
			if cfg.SSLSNI {
				t.tls.sni = serverName(t.Host)
			}
			t.NoName = level == VerifyFull && t.Host == ""
		}
		pc.targets = append(pc.targets, t)
		plan.Targets = append(plan.Targets, t.Target)
	}

	// lib/pq gets one host at a time, and no TLS of its own.
	base := cfg.Clone()
	base.Multi = nil
	base.LoadBalanceHosts = pq.LoadBalanceHostsDisable
	base.SSLRootCert, base.SSLCert, base.SSLKey, base.SSLInline = "", "", "", false
	base.SSLNegotiation = ""
	if !custom {
		base.SSLMode = pq.SSLModeDisable
	}
	pc.base = base
	return pc, plan, nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func isUnixHost(h string) bool { return filepath.IsAbs(h) || strings.HasPrefix(h, "@") }

// pqClientCert loads the client certificate lib/pq would send.
func pqClientCert(ctx context.Context, cfg pq.Config, home string, p Policy) (*Material[*tls.Certificate], string, bool, error) {
	if cfg.SSLInline {
		if cfg.SSLCert == "" && cfg.SSLKey == "" {
			return orgClientCert(ctx, p)
		}
		c, err := parseKeyPair([][]byte{[]byte(cfg.SSLCert), []byte(cfg.SSLKey)})
		if err != nil {
			return nil, "", false, errors.New("securepg: sslcert/sslkey (inline): " + err.Error())
		}
		return staticMaterial("client certificate", c), "sslcert (inline)", false, nil
	}
	certPath, keyPath := cfg.SSLCert, cfg.SSLKey
	if certPath == "" && home != "" {
		certPath = filepath.Join(home, "postgresql.crt")
		if !fileExists(certPath) {
			return orgClientCert(ctx, p)
		}
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
	m := newMaterial("client certificate", parseKeyPair, certPath, keyPath)
	if err := m.load(ctx); err != nil {
		return nil, "", false, fmt.Errorf("securepg: sslcert/sslkey: %w", err)
	}
	return m, certPath, false, nil
}

func orgClientCert(ctx context.Context, p Policy) (*Material[*tls.Certificate], string, bool, error) {
	if p.ClientCert == "" {
		return nil, "", false, nil
	}
	m := newMaterial("client certificate", parseKeyPair, p.ClientCert, p.ClientKey)
	if err := m.load(ctx); err != nil {
		return nil, "", false, fmt.Errorf("securepg: %s/%s: %w", p.Sources[EnvSSLCert], p.Sources[EnvSSLKey], err)
	}
	return m, p.ClientCert, true, nil
}

// keyPermissions is lib/pq's check of a private key file: u=rw at most,
// or u=rw,g=r when root owns it.
func keyPermissions(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return pathError(err)
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

// pqIsSet reports whether lib/pq's parser saw a value for key (its
// defaults do not count), as its unexported Config.isset does. If lib/pq
// ever stops keeping that list, the answer is false: securepg then treats
// the host as unnamed, which refuses rather than verifies against a
// default.
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

// Connect opens one lib/pq connection: the hosts in order (shuffled with
// load_balance_hosts=random), each with its own credentials, with
// target_session_attrs=prefer-standby as two passes, as libpq does.
func (c *PQConfig) Connect(ctx context.Context, creds CredsFunc, rec *Recorder) (driver.Conn, Facts, []*Violation, error) {
	order := make([]*pqTarget, len(c.targets))
	for i := range c.targets {
		order[i] = &c.targets[i]
	}
	if c.random {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	passes := []pq.TargetSessionAttrs{c.tsa}
	if c.tsa == pq.TargetSessionAttrsPreferStandby {
		passes = []pq.TargetSessionAttrs{pq.TargetSessionAttrsStandby, pq.TargetSessionAttrsAny}
	}
	var errs []error
	for _, tsa := range passes {
		for _, t := range order {
			cr, err := creds(ctx, t.Target)
			if err != nil {
				return nil, Facts{}, nil, err
			}
			tries := []bool{t.tls != nil && !t.allow} // TLS first?
			if t.allow {
				tries = []bool{false, true}
			}
			for i, useTLS := range tries {
				mark := rec.mark()
				dc, s, err := c.connectOnce(ctx, t, useTLS, tsa, cr, rec)
				if err == nil {
					return dc, s.facts, s.audited, nil
				}
				errs = append(errs, fmt.Errorf("%s: %w", t.Addr(), err))
				if ctx.Err() != nil {
					return nil, Facts{}, nil, ctxError(ctx, err)
				}
				// allow retries with TLS only when the plaintext session
				// was refused by the server, not when nothing answered.
				if i == 0 && len(tries) > 1 && len(rec.since(mark)) == 0 {
					break
				}
			}
		}
	}
	if len(errs) == 1 {
		return nil, Facts{}, nil, errors.Unwrap(errs[0])
	}
	return nil, Facts{}, nil, fmt.Errorf("securepg: could not connect to any of the hosts: %w", errors.Join(errs...))
}

func (c *PQConfig) connectOnce(ctx context.Context, t *pqTarget, useTLS bool, tsa pq.TargetSessionAttrs, cr *Creds, rec *Recorder) (driver.Conn, *pqSocket, error) {
	rec.attempt(t.Target)
	cfg := c.base.Clone()
	cfg.Host, cfg.Hostaddr, cfg.Port, cfg.TargetSessionAttrs = t.pqHost, t.hostaddr, t.Port, tsa
	if cr != nil {
		if cr.User != "" {
			cfg.User = cr.User
		}
		cfg.Password = cr.Password
	}
	if cfg.Password == "" {
		// lib/pq would open the passfile itself, outside the context, and
		// block on a FIFO: securepg reads it, as lib/pq would, and lib/pq
		// gets a passfile it will not find.
		pw, err := pqPassfile(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		cfg.Password = pw
	}
	cfg.Passfile = noPassfile
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dialer := &pqDialer{c: c, t: t, tls: useTLS, rec: rec, outer: ctx}
	conn.Dialer(dialer)
	mark := rec.mark()
	dc, err := conn.Connect(ctx)
	dialer.done.Store(true)
	socks := rec.since(mark)
	if err != nil {
		for _, s := range socks {
			s.stop()
		}
		return nil, nil, err
	}
	if len(socks) != 1 {
		dc.Close()
		return nil, nil, &Violation{Reason: ReasonTLSNotEstablished, Host: t.Addr(), Got: "unknown", Want: c.policy.MinSSLMode.String(),
			Detail: "the connection did not go through securepg's dialer", Hard: true}
	}
	s := socks[0]
	if !s.stop() {
		dc.Close()
		return nil, nil, ctxError(ctx, errors.New("the context ended while connecting"))
	}
	s.raw.SetDeadline(time.Time{})
	if s.facts.Network == "tcp" {
		server, err := queryServerSSL(ctx, dc)
		if err != nil {
			dc.Close()
			return nil, nil, err
		}
		s.facts.Server = server
	}
	return dc, s, nil
}

// pqDialer is the lib/pq Dialer of one host: it dials, negotiates TLS and
// verifies the server itself, judges the result, and hands lib/pq a
// connection only when the policy accepts it. Query cancellation dials
// through it too, and gets the same checks.
type pqDialer struct {
	c     *PQConfig
	t     *pqTarget
	tls   bool // make a TLS attempt (with sslmode=prefer, falling back to plaintext)
	rec   *Recorder
	outer context.Context // the connect's context, which bounds the connection until it is made
	done  atomic.Bool     // connected: later dials are lib/pq's query cancellations
}

// watch bounds raw by the connect's context for as long as it connects
// (stop ends that), and by ctx, the dial's, until the dial returns (lib/pq
// cancels the context it dials with, with connect_timeout, as soon as the
// dial returns; release ends that).
func (d *pqDialer) watch(ctx context.Context, raw net.Conn, release *[]func() bool) (stop func() bool) {
	outer := d.outer
	if d.done.Load() || outer == nil {
		outer = ctx
	}
	stop = bound(outer, raw)
	if ctx != outer {
		if dl, ok := ctx.Deadline(); ok {
			if odl, ok := outer.Deadline(); !ok || dl.Before(odl) {
				raw.SetDeadline(dl)
			}
		}
		*release = append(*release, context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) }))
	}
	return stop
}

func (d *pqDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *pqDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

var errUnexpectedAddress = errors.New("securepg: lib/pq dialed an address securepg did not plan")

func (d *pqDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	t := d.t
	if network != t.dialNet || address != t.dialAddr {
		return nil, errUnexpectedAddress
	}
	var release []func() bool
	defer func() {
		for _, r := range release {
			r()
		}
	}()
	if network == "unix" || t.custom {
		raw, err := d.c.dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		f := Facts{Network: network, Host: t.Host, Port: t.Port, Mode: t.Mode, MinTLS: t.MinTLS}
		if network == "unix" {
			f.Mode = ModeDisable
		}
		return d.accept(raw, raw, f, d.watch(ctx, raw, &release), nil)
	}
	host, port, _ := net.SplitHostPort(address)
	addrs := []string{host}
	if t.pqHostaddr == "" {
		var err error
		if addrs, err = d.c.lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	// Like libpq, every address of the host name in turn; a server that
	// fails the policy at one address is recorded, and the next is tried.
	var errs []error
	for _, a := range addrs {
		conn, err := d.try(ctx, net.JoinHostPort(a, port), &release)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	var v *Violation
	for _, err := range errs {
		if errors.As(err, &v) {
			return nil, v
		}
	}
	return nil, errors.Join(errs...)
}

// errRefusedTLS: the server answered the SSLRequest with 'N'.
var errRefusedTLS = errors.New("the server refused TLS")

func (d *pqDialer) try(ctx context.Context, addr string, release *[]func() bool) (net.Conn, error) {
	t := d.t
	raw, err := d.c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := d.watch(ctx, raw, release)
	plain := Facts{Network: "tcp", Host: t.Host, Port: t.Port, Mode: ModeDisable, MinTLS: t.MinTLS}
	if !d.tls {
		return d.accept(raw, raw, plain, stop, nil)
	}
	conn, f, audited, err := d.handshake(ctx, raw)
	switch {
	case err == nil:
		return d.accept(conn, raw, f, stop, audited)
	case t.prefer && errors.Is(err, errRefusedTLS):
		return d.accept(raw, raw, plain, stop, nil) // libpq goes on in plaintext on the same socket
	}
	stop()
	raw.Close()
	var v *Violation
	if !errors.As(err, &v) {
		if errors.Is(err, errRefusedTLS) {
			v = tlsNotEstablished(t.Addr(), d.c.policy, "the server (or something in between) refused TLS")
		} else {
			v = d.classify(err)
		}
	}
	if v != nil {
		d.reject(v)
	}
	if t.prefer && ctx.Err() == nil {
		// A failed handshake under sslmode=prefer: libpq retries without
		// TLS on a new socket (the first one is closed, not left to the GC).
		raw, err := d.c.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return d.accept(raw, raw, plain, d.watch(ctx, raw, release), nil)
	}
	if v != nil {
		return nil, v
	}
	return nil, err
}

// sslRequest is the 8-byte SSLRequest packet: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// handshake negotiates TLS on raw and verifies the server. It reads
// exactly one byte after the SSLRequest, so bytes a man in the middle
// appends to 'S' land in the TLS handshake and fail it (CVE-2021-23222).
func (d *pqDialer) handshake(ctx context.Context, raw net.Conn) (net.Conn, Facts, []*Violation, error) {
	t := d.t
	if !t.tls.direct {
		if _, err := raw.Write(sslRequest); err != nil {
			return nil, Facts{}, nil, err
		}
		var b [1]byte
		if _, err := io.ReadFull(raw, b[:]); err != nil {
			return nil, Facts{}, nil, err
		}
		switch b[0] {
		case 'S':
		case 'N':
			return nil, Facts{}, nil, errRefusedTLS
		default:
			return nil, Facts{}, nil, tlsNotEstablished(t.Addr(), d.c.policy, "the server answered the SSLRequest with neither S nor N")
		}
	}
	var facts Facts
	var audited []*Violation
	judge := func(f Facts) error {
		f.Network, f.Host, f.Port, f.Mode = "tcp", t.Host, t.Port, t.Mode
		refusal, aud := Decide(d.c.policy, Judge(d.c.policy, f))
		if refusal != nil {
			return refusal
		}
		facts, audited = f, aud
		return nil
	}
	tc := tls.Client(raw, t.tls.config(ctx, judge))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, Facts{}, nil, err
	}
	return tc, facts, audited, nil
}

// classify names the policy meaning of a failed handshake, or nil.
func (d *pqDialer) classify(err error) *Violation {
	var alert tls.AlertError
	msg := err.Error()
	if errors.As(err, &alert) && (alert == 70 || alert == 71) || strings.Contains(msg, "protocol version") {
		min := TLSVersionName(d.t.MinTLS)
		return &Violation{Reason: ReasonTLSVersionTooLow, Host: d.t.Addr(), Got: "older than " + min, Want: min, Hard: true,
			Detail: "the server does not support " + min + " or newer",
			Fix:    "enable " + min + " on the server, or lower " + EnvMinTLSVersion + " and ssl_min_protocol_version"}
	}
	return nil
}

// accept judges a connection that is plaintext or a unix socket (TLS ones
// were judged during the handshake) and hands it to lib/pq.
func (d *pqDialer) accept(conn, raw net.Conn, f Facts, stop func() bool, audited []*Violation) (net.Conn, error) {
	if !f.TLS {
		refusal, aud := Decide(d.c.policy, Judge(d.c.policy, f))
		if refusal != nil {
			stop()
			raw.Close()
			d.reject(refusal)
			return nil, refusal
		}
		audited = aud
	}
	if !d.done.Load() {
		d.rec.addSocket(&pqSocket{raw: raw, facts: f, audited: audited, stop: stop})
	}
	return conn, nil
}

// reject records an attempt the policy refused, while connecting (not on
// the dials lib/pq makes later to cancel a query).
func (d *pqDialer) reject(v *Violation) {
	if !d.done.Load() {
		d.rec.reject(v)
	}
}

// noPassfile is a passfile path that cannot exist (a path under a file),
// so that lib/pq never opens one itself.
const noPassfile = "/dev/null/securepg-reads-the-passfile"

// pqPassfile finds the password for cfg's host in the passfile, as lib/pq
// would (cfg.Passfile, else ~/.pgpass; not one with group or world access),
// reading it within ctx and only as a regular file.
func pqPassfile(ctx context.Context, cfg pq.Config) (string, error) {
	path := cfg.Passfile
	if path == "" {
		home, _ := os.UserHomeDir()
		if home == "" {
			return "", nil
		}
		path = filepath.Join(home, ".pgpass")
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 != 0 {
		return "", nil // absent, or ignored as lib/pq ignores an open passfile
	}
	b, err := ReadRegularFile(ctx, path, MaxPasswordFileSize)
	if err != nil {
		return "", fmt.Errorf("securepg: passfile: %w", err)
	}
	host := cfg.Host
	socket := host == "" || isUnixHost(host)
	port, db := strconv.Itoa(int(cfg.Port)), cfg.Database
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		f := passfileFields(line)
		if len(f) == 5 && (f[0] == "*" || f[0] == host || f[0] == "localhost" && socket) &&
			(f[1] == "*" || f[1] == port) && (f[2] == "*" || f[2] == db) && (f[3] == "*" || f[3] == cfg.User) {
			return f[4], nil
		}
	}
	return "", nil
}

// passfileFields splits a passfile line on ':', with '\' escapes.
func passfileFields(s string) []string {
	var out []string
	var f []rune
	esc := false
	for _, c := range s {
		switch {
		case esc:
			f, esc = append(f, c), false
		case c == '\\':
			esc = true
		case c == ':':
			out, f = append(out, string(f)), f[:0]
		default:
			f = append(f, c)
		}
	}
	return append(out, string(f))
}

// pgStatSSL asks the server for its view of this backend's TLS. SHOW ssl
// would report the server's setting, not this connection.
const pgStatSSL = "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

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

// ctxError makes err report the context's end, as database/sql expects.
func ctxError(ctx context.Context, err error) error {
	if ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("securepg: connect: %w (%v)", ctx.Err(), err)
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
