package core

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/securepg/securepg/lab"
)

// env sets exactly the policy variables of m for the test.
func env(t *testing.T, m map[string]string) {
	t.Helper()
	for _, v := range EnvVars {
		t.Setenv(v, m[v])
	}
}

func TestPolicyFromEnv(t *testing.T) {
	env(t, nil)
	p, err := PolicyFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if p.Driver != DriverPgx || p.MinSSLMode != ModeVerifyFull || p.MinTLSVersion != tls.VersionTLS12 || p.Audit || p.AllowUnixSocket {
		t.Fatalf("defaults: %+v", p)
	}
	if p.Sources[EnvMinSSLMode] != SourceDefault {
		t.Fatalf("source %q", p.Sources[EnvMinSSLMode])
	}
	env(t, map[string]string{
		EnvMinSSLMode: "require", EnvMinTLSVersion: "1.3", EnvMode: "audit", EnvAllowUnixSocket: "true",
	})
	p, err = PolicyFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if p.Driver != DriverPgx || p.MinSSLMode != ModeRequire || p.MinTLSVersion != tls.VersionTLS13 || !p.Audit || !p.AllowUnixSocket {
		t.Fatalf("set: %+v", p)
	}
	if p.Sources[EnvMinSSLMode] != EnvMinSSLMode {
		t.Fatalf("source %q", p.Sources[EnvMinSSLMode])
	}
	for _, name := range []string{EnvMinSSLMode, EnvMinTLSVersion, EnvMode, EnvAllowUnixSocket} {
		env(t, map[string]string{name: "bogus-value"})
		_, err := PolicyFromEnv()
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "bogus-value") {
			t.Errorf("%s=bogus-value: err = %v; want an error naming the variable, not the value", name, err)
		}
	}
	// Several bad values are all reported.
	env(t, map[string]string{EnvMinTLSVersion: "x", EnvMode: "y"})
	_, err = PolicyFromEnv()
	if err == nil || !strings.Contains(err.Error(), EnvMinTLSVersion) || !strings.Contains(err.Error(), EnvMode) {
		t.Fatalf("err = %v", err)
	}
}

func TestPolicyLoad(t *testing.T) {
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		err  string
	}{
		{"root file", map[string]string{EnvSSLRootCert: certs.CAFile}, ""},
		{"system roots", map[string]string{EnvSSLRootCert: "system"}, ""},
		{"missing root", map[string]string{EnvSSLRootCert: "/nonexistent/ca.pem"}, EnvSSLRootCert},
		{"root not PEM", map[string]string{EnvSSLRootCert: certs.Client.KeyFile + ".nope"}, EnvSSLRootCert},
		{"client pair", map[string]string{EnvSSLCert: certs.Client.CertFile, EnvSSLKey: certs.Client.KeyFile}, ""},
		{"cert without key", map[string]string{EnvSSLCert: certs.Client.CertFile}, EnvSSLKey},
		{"mismatched pair", map[string]string{EnvSSLCert: certs.Client.CertFile, EnvSSLKey: certs.Server.KeyFile}, EnvSSLCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env(t, tc.env)
			p, err := PolicyFromEnv()
			if err != nil {
				t.Fatal(err)
			}
			err = p.Load()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Load() = %v, want error naming %q", err, tc.err)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	tcp := func(m SSLMode) Target {
		return Target{Host: "db", Port: 5432, Network: "tcp", Mode: m}
	}
	pol := func(min SSLMode, mut ...func(*Policy)) Policy {
		p := DefaultPolicy()
		p.MinSSLMode = min
		for _, f := range mut {
			f(&p)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		targets []Target
		policy  Policy
		want    []string
	}{
		{"disable", []Target{tcp(ModeDisable)}, pol(ModeVerifyFull), []string{ReasonTLSDisabled}},
		{"allow", []Target{tcp(ModeAllow)}, pol(ModeVerifyFull), []string{ReasonPlaintextFallback}},
		{"prefer", []Target{tcp(ModePrefer)}, pol(ModeRequire), []string{ReasonPlaintextFallback}},
		{"prefer at prefer", []Target{tcp(ModePrefer)}, pol(ModePrefer), nil},
		{"require", []Target{tcp(ModeRequire)}, pol(ModeVerifyCA), []string{ReasonUnverifiedCertificate}},
		{"verify-ca", []Target{tcp(ModeVerifyCA)}, pol(ModeVerifyFull), []string{ReasonUnverifiedHostname}},
		{"verify-full", []Target{tcp(ModeVerifyFull)}, pol(ModeVerifyFull), nil},
		{"stronger than needed", []Target{tcp(ModeVerifyFull)}, pol(ModeDisable), nil},
		{"unix refused", []Target{{Host: "/tmp", Network: "unix"}}, pol(ModeDisable), []string{ReasonUnixSocket}},
		{"unix allowed", []Target{{Host: "/tmp", Network: "unix"}}, pol(ModeVerifyFull, func(p *Policy) { p.AllowUnixSocket = true }), nil},
		{"every host judged", []Target{tcp(ModeVerifyFull), tcp(ModeDisable), {Host: "/s", Network: "unix"}}, pol(ModeVerifyFull),
			[]string{ReasonTLSDisabled, ReasonUnixSocket}},
		{"custom TLS config", []Target{{Host: "db", Network: "tcp", Mode: ModeRequire, Custom: true}}, pol(ModeVerifyCA), []string{ReasonCustomTLSConfig}},
		// securepg cannot see a registered tls.Config: only where plaintext
		// is allowed anyway.
		{"custom under require", []Target{{Host: "db", Network: "tcp", Mode: ModeRequire, Custom: true}}, pol(ModeRequire), []string{ReasonCustomTLSConfig}},
		{"custom under prefer", []Target{{Host: "db", Network: "tcp", Mode: ModeRequire, Custom: true}}, pol(ModePrefer), nil},
		{"max TLS below min", []Target{{Host: "db", Network: "tcp", Mode: ModeVerifyFull, MaxTLS: tls.VersionTLS12}},
			pol(ModeVerifyFull, func(p *Policy) { p.MinTLSVersion = tls.VersionTLS13 }), []string{ReasonTLSVersionTooLow}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range Evaluate(Plan{Targets: tc.targets}, tc.policy) {
				got = append(got, v.Reason)
				if v.Host == "" || v.Detail == "" || !strings.HasPrefix(v.Error(), "securepg: ") {
					t.Errorf("incomplete violation: %+v", v)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("reasons %v, want %v", got, tc.want)
			}
		})
	}
}

// clearPG isolates the drivers' parsers from the machine: no PG*
// variables, and an empty HOME.
func clearPG(t testing.TB) string {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

type attempts = []Attempt

var (
	plain   = Attempt{}
	tlsNone = Attempt{TLS: true, Verify: VerifyNone}
	tlsCA   = Attempt{TLS: true, Verify: VerifyCA}
	tlsFull = Attempt{TLS: true, Verify: VerifyFull}
)

// TestPlanFacts turns each fact of DESIGN.md about how pgx v5.12 and
// lib/pq v1.12 treat sslmode into a table case: what each driver will
// really try, per host.
func TestPlanFacts(t *testing.T) {
	clearPG(t)
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := certs.CAFile
	svc := filepath.Join(t.TempDir(), "pg_service.conf")
	if err := os.WriteFile(svc, []byte("[weak]\nsslmode=disable\n[strong]\nsslmode=verify-full\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type hostPlan struct {
		host     string
		network  string
		attempts attempts
	}
	for _, tc := range []struct {
		name string
		dsn  string
		env  map[string]string
		pgx  []hostPlan
		pq   []hostPlan
	}{
		{name: "no sslmode", dsn: "host=db",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsNone, plain}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsNone}}}},
		{name: "empty sslmode", dsn: "host=db sslmode=",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsNone, plain}}}},
		{name: "allow", dsn: "host=db sslmode=allow",
			pgx: []hostPlan{{"db", "tcp", attempts{plain, tlsNone}}},
			pq:  []hostPlan{{"db", "tcp", attempts{plain, tlsNone}}}},
		{name: "require", dsn: "host=db sslmode=require",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsNone}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsNone}}}},
		{name: "verify-ca", dsn: "host=db sslmode=verify-ca sslrootcert=" + ca,
			pgx: []hostPlan{{"db", "tcp", attempts{tlsCA}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsCA}}}},
		{name: "verify-full", dsn: "host=db sslmode=verify-full",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsFull}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsFull}}}},
		{name: "require + sslrootcert is verify-ca", dsn: "host=db sslmode=require sslrootcert=" + ca,
			pgx: []hostPlan{{"db", "tcp", attempts{tlsCA}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsCA}}}},
		{name: "sslrootcert=system forces verify-full over disable (pgx)", dsn: "host=db sslmode=disable sslrootcert=system",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsFull}}}},
		{name: "sslrootcert=system defaults to verify-full", dsn: "host=db sslrootcert=system",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsFull}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsFull}}}},
		{name: "sslnegotiation=direct with disable is plaintext (pgx)", dsn: "host=db sslmode=disable sslnegotiation=direct",
			pgx: []hostPlan{{"db", "tcp", attempts{plain}}}},
		{name: "sslnegotiation=direct turns prefer into require (pgx)", dsn: "host=db sslnegotiation=direct",
			pgx: []hostPlan{{"db", "tcp", attempts{tlsNone}}}},
		{name: "each host gets its own attempts", dsn: "host=a,b port=1,2 sslmode=prefer",
			pgx: []hostPlan{{"a", "tcp", attempts{tlsNone, plain}}, {"b", "tcp", attempts{tlsNone, plain}}},
			pq:  []hostPlan{{"a", "tcp", attempts{tlsNone, plain}}, {"b", "tcp", attempts{tlsNone, plain}}}},
		{name: "the same host twice", dsn: "host=a,a sslmode=allow",
			pgx: []hostPlan{{"a", "tcp", attempts{plain, tlsNone}}, {"a", "tcp", attempts{plain, tlsNone}}}},
		{name: "no host: pgx uses a unix socket, lib/pq localhost", dsn: "sslmode=verify-full",
			pgx: []hostPlan{{"", "unix", attempts{plain}}},
			pq:  []hostPlan{{"localhost", "tcp", attempts{tlsFull}}}},
		// lib/pq alone turns TLS off for every host when the first is a unix
		// socket; securepg does TLS itself, as libpq does.
		{name: "unix socket first: the TCP host keeps its sslmode", dsn: "host=/run/pg,db sslmode=verify-full",
			pgx: []hostPlan{{"/run/pg", "unix", attempts{plain}}, {"db", "tcp", attempts{tlsFull}}},
			pq:  []hostPlan{{"/run/pg", "unix", attempts{plain}}, {"db", "tcp", attempts{tlsFull}}}},
		{name: "duplicate keys: last wins", dsn: "host=db sslmode=verify-full sslmode=disable",
			pgx: []hostPlan{{"db", "tcp", attempts{plain}}},
			pq:  []hostPlan{{"db", "tcp", attempts{plain}}}},
		{name: "URL duplicates: pgx last, lib/pq first", dsn: "postgres://db/x?sslmode=verify-full&sslmode=disable",
			pgx: []hostPlan{{"db", "tcp", attempts{plain}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsFull}}}},
		{name: "PGSSLMODE applies when the DSN is silent", dsn: "host=db", env: map[string]string{"PGSSLMODE": "disable"},
			pgx: []hostPlan{{"db", "tcp", attempts{plain}}},
			pq:  []hostPlan{{"db", "tcp", attempts{plain}}}},
		{name: "the DSN beats PGSSLMODE", dsn: "host=db sslmode=verify-full", env: map[string]string{"PGSSLMODE": "disable"},
			pgx: []hostPlan{{"db", "tcp", attempts{tlsFull}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsFull}}}},
		{name: "the service file beats the environment", dsn: "host=db service=weak",
			env: map[string]string{"PGSERVICEFILE": svc, "PGSSLMODE": "verify-full"},
			pgx: []hostPlan{{"db", "tcp", attempts{plain}}},
			pq:  []hostPlan{{"db", "tcp", attempts{plain}}}},
		{name: "the DSN beats the service file (pgx), not in lib/pq", dsn: "host=db service=weak sslmode=verify-full",
			env: map[string]string{"PGSERVICEFILE": svc},
			pgx: []hostPlan{{"db", "tcp", attempts{tlsFull}}},
			pq:  []hostPlan{{"db", "tcp", attempts{plain}}}},
		{name: "PGSERVICE", dsn: "host=db", env: map[string]string{"PGSERVICEFILE": svc, "PGSERVICE": "strong"},
			pgx: []hostPlan{{"db", "tcp", attempts{tlsFull}}},
			pq:  []hostPlan{{"db", "tcp", attempts{tlsFull}}}},
		{name: "PGHOST with a unix socket", dsn: "sslmode=verify-full", env: map[string]string{"PGHOST": "/run/pg"},
			pgx: []hostPlan{{"/run/pg", "unix", attempts{plain}}},
			pq:  []hostPlan{{"/run/pg", "unix", attempts{plain}}}},
	} {
		for _, drv := range []string{DriverPgx, DriverPQ} {
			want := tc.pgx
			if drv == DriverPQ {
				want = tc.pq
			}
			if want == nil {
				continue
			}
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				var plan Plan
				var err error
				if drv == DriverPgx {
					_, plan, err = PreparePgx(tc.dsn, DefaultPolicy())
				} else {
					_, plan, err = PreparePQ(tc.dsn, DefaultPolicy())
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []hostPlan
				for _, tg := range plan.Targets {
					h := tg.Host
					if tg.Network == "unix" && tc.dsn == "sslmode=verify-full" && drv == DriverPgx && tc.env == nil {
						h = "" // pgx's default socket directory depends on the machine
					}
					got = append(got, hostPlan{h, tg.Network, tg.Attempts})
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("plan %+v\nwant %+v", got, want)
				}
			})
		}
	}
}

// TestHardening checks what securepg changes in each driver's
// configuration: TLS minimum, org roots and client certificates, applied
// only where the effective configuration names none.
func TestHardening(t *testing.T) {
	clearPG(t)
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy()
	p.MinTLSVersion = tls.VersionTLS13
	for k, v := range map[string]string{EnvSSLRootCert: certs.CAFile, EnvSSLCert: certs.Client.CertFile, EnvSSLKey: certs.Client.KeyFile} {
		if err := p.Set(k, v, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Load(); err != nil {
		t.Fatal(err)
	}

	pc, plan, err := PreparePgx("host=a,b sslmode=require", p)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range append([]*tls.Config{pc.Conn.TLSConfig}, pc.Conn.Fallbacks[0].TLSConfig) {
		// The org's files, as material that follows them: the roots
		// verify in VerifyConnection, the certificate is sent by
		// GetClientCertificate.
		if tc.MinVersion != tls.VersionTLS13 || pc.entries[i].auth.Roots != p.Roots() || tc.GetClientCertificate == nil {
			t.Fatalf("pgx attempt %d: min %x roots %v client certificate %v", i, tc.MinVersion, pc.entries[i].auth.Roots != nil, tc.GetClientCertificate != nil)
		}
	}
	if plan.Targets[0].Mode != ModeVerifyCA {
		t.Fatalf("org root + require = %s, want verify-ca", plan.Targets[0].Mode)
	}
	// pgx does not know ssl_min_protocol_version: securepg applies it and
	// does not send it to the server.
	pc, _, err = PreparePgx("host=a sslmode=verify-full ssl_min_protocol_version=TLSv1.3", DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if pc.Conn.TLSConfig.MinVersion != tls.VersionTLS13 {
		t.Fatalf("ssl_min_protocol_version ignored: %x", pc.Conn.TLSConfig.MinVersion)
	}
	if _, ok := pc.Conn.RuntimeParams["ssl_min_protocol_version"]; ok {
		t.Fatal("ssl_min_protocol_version would be sent to the server")
	}

	qc, plan, err := PreparePQ("host=a sslmode=require", p)
	if err != nil {
		t.Fatal(err)
	}
	ct := qc.targets[0].TLS
	if ct.auth.MinTLS != tls.VersionTLS13 || ct.auth.Level != VerifyCA || ct.auth.Roots == nil ||
		!reflect.DeepEqual(ct.auth.Roots.Paths(), []string{certs.CAFile}) ||
		ct.cert == nil || !reflect.DeepEqual(ct.cert.Paths(), []string{certs.Client.CertFile, certs.Client.KeyFile}) {
		t.Fatalf("pq config not hardened: %+v", ct)
	}
	// lib/pq itself never negotiates TLS nor reads a certificate file:
	// securepg does, with what it judged.
	if qc.base.SSLMode != pq.SSLModeDisable || qc.base.SSLRootCert != "" || qc.base.SSLCert != "" || qc.base.SSLKey != "" {
		t.Fatalf("lib/pq keeps TLS settings of its own: %+v", qc.base)
	}
	if plan.Targets[0].Mode != ModeVerifyCA {
		t.Fatalf("pq org root + require = %s, want verify-ca", plan.Targets[0].Mode)
	}
	// The DSN's own root wins.
	qc, _, err = PreparePQ("host=a sslmode=verify-full sslrootcert="+certs.OtherCAFile, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := qc.targets[0].TLS.auth.Roots.Paths(); !reflect.DeepEqual(got, []string{certs.OtherCAFile}) {
		t.Fatalf("org root replaced the DSN's: %v", got)
	}
}

// Paths names the files the material comes from (for the tests).
func (m *Material[T]) Paths() []string { return m.paths }
