package core

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"

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

// TestHardening checks what securepg changes in each driver's
// configuration: TLS minimum, org roots and client certificates, applied
// only where the effective configuration names none.
func TestHardening(t *testing.T) {
	labtest.ClearPG(t)
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

}
