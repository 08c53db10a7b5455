package pqconn

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/lib/pq"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

type attempts = []core.Attempt

var (
	plain   = core.Attempt{}
	tlsNone = core.Attempt{TLS: true, Verify: core.VerifyNone}
	tlsCA   = core.Attempt{TLS: true, Verify: core.VerifyCA}
	tlsFull = core.Attempt{TLS: true, Verify: core.VerifyFull}
)

// TestPlanFacts turns each fact of DESIGN.md about how pgx v5.12 and
// lib/pq v1.12 treat sslmode into a table case: what each driver will
// really try, per host.
func TestPlanFacts(t *testing.T) {
	labtest.ClearPG(t)
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
		for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
			want := tc.pgx
			if drv == core.DriverPQ {
				want = tc.pq
			}
			if want == nil {
				continue
			}
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				var plan core.Plan
				var err error
				if drv == core.DriverPgx {
					_, plan, err = core.PreparePgx(tc.dsn, core.DefaultPolicy())
				} else {
					_, plan, err = PreparePQ(tc.dsn, core.DefaultPolicy())
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []hostPlan
				for _, tg := range plan.Targets {
					h := tg.Host
					if tg.Network == "unix" && tc.dsn == "sslmode=verify-full" && drv == core.DriverPgx && tc.env == nil {
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

// TestHardeningPQ checks what securepg changes in lib/pq's configuration:
// TLS minimum, org roots and client certificates, applied only where the
// effective configuration names none; lib/pq itself never negotiates TLS.
func TestHardeningPQ(t *testing.T) {
	labtest.ClearPG(t)
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := core.DefaultPolicy()
	p.MinTLSVersion = tls.VersionTLS13
	for k, v := range map[string]string{core.EnvSSLRootCert: certs.CAFile, core.EnvSSLCert: certs.Client.CertFile, core.EnvSSLKey: certs.Client.KeyFile} {
		if err := p.Set(k, v, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Load(); err != nil {
		t.Fatal(err)
	}
	qc, plan, err := PreparePQ("host=a sslmode=require", p)
	if err != nil {
		t.Fatal(err)
	}
	ct := qc.targets[0].TLS
	if ct.Auth().MinTLS != tls.VersionTLS13 || ct.Auth().Level != core.VerifyCA || ct.Auth().Roots == nil ||
		!reflect.DeepEqual(ct.Auth().Roots.Paths(), []string{certs.CAFile}) ||
		ct.ClientCert() == nil || !reflect.DeepEqual(ct.ClientCert().Paths(), []string{certs.Client.CertFile, certs.Client.KeyFile}) {
		t.Fatalf("pq config not hardened: %+v", ct)
	}
	// lib/pq itself never negotiates TLS nor reads a certificate file:
	// securepg does, with what it judged.
	if qc.base.SSLMode != pq.SSLModeDisable || qc.base.SSLRootCert != "" || qc.base.SSLCert != "" || qc.base.SSLKey != "" {
		t.Fatalf("lib/pq keeps TLS settings of its own: %+v", qc.base)
	}
	if plan.Targets[0].Mode != core.ModeVerifyCA {
		t.Fatalf("pq org root + require = %s, want verify-ca", plan.Targets[0].Mode)
	}
	// The DSN's own root wins.
	qc, _, err = PreparePQ("host=a sslmode=verify-full sslrootcert="+certs.OtherCAFile, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := qc.targets[0].TLS.Auth().Roots.Paths(); !reflect.DeepEqual(got, []string{certs.OtherCAFile}) {
		t.Fatalf("org root replaced the DSN's: %v", got)
	}
}

// TestPQLoopbackNameResolved: lib/pq's dialer judges every address a name
// resolves to before the dial: under SECUREPG_ALLOW_LOOPBACK_PLAINTEXT a
// name that resolves to 10.0.0.1 is refused (tls_disabled) and no socket
// connects (the dialer's Control, which runs before connect, is never
// called). The same for the allowed networks.
func TestPQLoopbackNameResolved(t *testing.T) {
	labtest.ClearPG(t)
	for _, tc := range []struct {
		name   string
		policy func(p *core.Policy)
		want   string
	}{
		{"loopback plaintext", func(p *core.Policy) { p.AllowLoopbackPlaintext, p.UnverifiedPassword = true, core.PasswordSCRAM }, core.ReasonTLSDisabled},
		{"networks", func(p *core.Policy) {
			p.MinSSLMode, p.AllowedNetworks = core.ModeDisable, mustNetworks(t, "127.0.0.1/32")
		}, core.ReasonNetworkNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := core.DefaultPolicy()
			tc.policy(&p)
			pc, _, err := PreparePQ("host=sidecar.invalid port=5432 user=u dbname=d sslmode=disable", p)
			if err != nil {
				t.Fatal(err)
			}
			pc.Lookup = func(context.Context, string) ([]string, error) { return []string{"10.0.0.1"}, nil }
			var dialed []string
			pc.Dialer.Control = func(network, address string, _ syscall.RawConn) error {
				dialed = append(dialed, address)
				return errors.New("test: the dial was attempted")
			}
			creds := func(context.Context, core.Target) (*core.Creds, error) { return nil, nil }
			_, _, _, err = pc.Connect(context.Background(), creds, core.NewRecorder())
			var v *core.Violation
			if !errors.As(err, &v) || v.Reason != tc.want {
				t.Fatalf("err %v, want %s", err, tc.want)
			}
			if len(dialed) != 0 {
				t.Fatalf("dialed %q", dialed)
			}
		})
	}
}

func mustNetworks(t *testing.T, s string) core.Networks {
	t.Helper()
	n, err := core.ParseNetworks(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
