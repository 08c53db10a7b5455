package securepg_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg"

	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
)

// These tests hold lib/pq to what securepg judged: the plan is what
// happens at every connect, whatever files do afterwards.

// homeRoot puts the lab CA at ~/.postgresql/root.crt of a new HOME.
func homeRoot(t *testing.T, l *lab) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".postgresql")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(l.Certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	return home
}

// pingWithin pings db and fails the test if Ping does not return within
// bound (a liveness bound, far above the context's own deadline).
func pingWithin(t *testing.T, db *sql.DB, ctx context.Context, bound time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- db.PingContext(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		t.Fatalf("Ping still blocked %s after it started; its context allowed far less", bound)
		return nil
	}
}

// TestPQDefaultRootFileWithoutSSLMode: lib/pq loads ~/.postgresql/root.crt
// only when its sslmode itself verifies; with no sslmode it would connect
// unverified. securepg applies the policy's minimum (verify-ca) to a DSN
// that sets no sslmode, with that root file, and with sslmode=require the
// root file counts too: either way an impostor is refused before it hears
// anything.
func TestPQDefaultRootFileWithoutSSLMode(t *testing.T) {
	l := getLab(t)
	for _, extra := range []string{"", "sslmode=require"} {
		t.Run("DSN "+extra, func(t *testing.T) {
			isolateEnv(t)
			homeRoot(t, l)
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
			p, err := pglab.NewTLSImpostor(l.Addr(), l.Certs.SelfSigned.TLS, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			db, err := sql.Open("securepg-pq", l.at(p, extra))
			if err != nil {
				t.Fatalf("~/.postgresql/root.crt makes it verify-ca: %v", err)
			}
			defer db.Close()
			requireReason(t, db.Ping(), securepg.ReasonCertificateUntrusted)
			db.Close()
			p.Close()
			if n := p.FromClient(); n != 0 {
				t.Fatalf("the impostor heard %d bytes", n)
			}
		})
	}
}

// TestPQRootFileChangesAfterOpen: the root file (sslrootcert, or the home
// directory's) is removed, or HOME changes, after sql.Open. lib/pq would
// then connect unverified; securepg keeps verifying with what it read.
func TestPQRootFileChangesAfterOpen(t *testing.T) {
	l := getLab(t)
	for _, tc := range []struct {
		name   string
		dsn    func(l *lab, p *pglab.Proxy, ca string) string
		change func(t *testing.T, ca string)
	}{
		{"sslrootcert removed", func(l *lab, p *pglab.Proxy, ca string) string {
			return l.at(p, "sslmode=require", "sslrootcert="+ca)
		}, func(t *testing.T, ca string) { os.Remove(ca) }},
		{"home root removed", func(l *lab, p *pglab.Proxy, _ string) string {
			return l.at(p, "sslmode=require")
		}, func(t *testing.T, _ string) { os.Remove(filepath.Join(os.Getenv("HOME"), ".postgresql", "root.crt")) }},
		{"HOME changed", func(l *lab, p *pglab.Proxy, _ string) string {
			return l.at(p, "sslmode=require")
		}, func(t *testing.T, _ string) { t.Setenv("HOME", t.TempDir()) }},
		{"sslrootcert replaced by garbage", func(l *lab, p *pglab.Proxy, ca string) string {
			return l.at(p, "sslmode=require", "sslrootcert="+ca)
		}, func(t *testing.T, ca string) {
			os.WriteFile(ca+".new", []byte("garbage"), 0o600)
			os.Rename(ca+".new", ca)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			homeRoot(t, l)
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
			ca := filepath.Join(t.TempDir(), "ca.crt")
			b, _ := os.ReadFile(l.Certs.CAFile)
			if err := os.WriteFile(ca, b, 0o600); err != nil {
				t.Fatal(err)
			}
			imp, err := pglab.NewTLSImpostor(l.Addr(), l.Certs.SelfSigned.TLS, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close()
			// One connector for the impostor, one for the real server.
			bad, err := sql.Open(driverName("pq"), tc.dsn(l, imp, ca))
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			good, err := sql.Open(driverName("pq"), tc.dsn(l, l.relay, ca))
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			tc.change(t, ca)
			requireReason(t, bad.Ping(), securepg.ReasonCertificateUntrusted)
			if err := good.Ping(); err != nil {
				t.Fatalf("the real server, verified with the roots read at sql.Open: %v", err)
			}
			bad.Close()
			imp.Close()
			if n := imp.FromClient(); n != 0 {
				t.Fatalf("the impostor heard %d bytes", n)
			}
		})
	}
}

// TestPQHostaddrWithoutHost: lib/pq would check the certificate against
// its default host name, localhost, while dialing hostaddr; libpq refuses
// verify-full without a host name, and so does securepg. With a host name
// the address is dialed and the name verified.
func TestPQHostaddrWithoutHost(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	ca := "sslrootcert=" + l.Certs.CAFile
	auth := l.auth()
	_, err := sql.Open(driverName("pq"), "hostaddr=127.0.0.1 port="+l.relay.PortString()+" "+auth+" sslmode=verify-full "+ca)
	requireReason(t, err, securepg.ReasonNoHostName)
	_, err = sql.Open(driverName("pq"), "host=db1.invalid,db2.invalid hostaddr=127.0.0.1,127.0.0.1 port="+l.relay.PortString()+" "+auth+" sslmode=verify-full "+ca)
	if err != nil {
		t.Fatalf("host names with their addresses: %v", err)
	}
	_, err = sql.Open(driverName("pq"), "host=,db2.invalid hostaddr=127.0.0.1,127.0.0.1 port="+l.relay.PortString()+" "+auth+" sslmode=verify-full "+ca)
	requireReason(t, err, securepg.ReasonNoHostName)
	// lib/pq fills an empty element of a host list with "localhost": no
	// name, wherever it stands.
	_, err = sql.Open(driverName("pq"), "host=db1.invalid, hostaddr=127.0.0.2,127.0.0.1 port="+l.relay.PortString()+" "+auth+" sslmode=verify-full "+ca)
	requireReason(t, err, securepg.ReasonNoHostName)

	db, err := sql.Open(driverName("pq"), "host=localhost hostaddr=127.0.0.1 port="+l.relay.PortString()+" "+auth+" sslmode=verify-full "+ca)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("host=localhost hostaddr=127.0.0.1: %v", err)
	}
	// A name the certificate does not carry is refused, at that address.
	db2, err := sql.Open(driverName("pq"), "host=db.invalid hostaddr=127.0.0.1 port="+l.relay.PortString()+" "+auth+" sslmode=verify-full "+ca)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	requireReason(t, db2.Ping(), securepg.ReasonHostnameMismatch)
}

// TestNegotiationHonoursTheContext: a peer that accepts and never
// answers, answers 'S' and stalls, or completes TLS and never answers the
// startup message holds no Ping past its context, on either driver, with
// or without connect_timeout.
func TestNegotiationHonoursTheContext(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, stage := range []pglab.Stall{pglab.StallAtOnce, pglab.StallAfterS, pglab.StallAfterTLS} {
			t.Run(drv+"/"+[]string{"at once", "after S", "after TLS"}[stage], func(t *testing.T) {
				isolateEnv(t)
				p, err := pglab.NewStallProxy(stage, l.Certs.Server.TLS)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				db, err := sql.Open(driverName(drv), l.at(p, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				if err := pingWithin(t, db, ctx, 20*time.Second); err == nil {
					t.Fatal("connected to a stalling peer")
				}
				// Cancellation, with no deadline at all.
				ctx, cancel = context.WithCancel(context.Background())
				n := p.Accepted()
				done := make(chan error, 1)
				go func() { done <- db.PingContext(ctx) }()
				for p.Accepted() == n { // the attempt has reached the peer
					runtime.Gosched()
				}
				cancel()
				select {
				case err := <-done:
					if err == nil {
						t.Fatal("connected to a stalling peer")
					}
				case <-time.After(20 * time.Second):
					t.Fatal("a cancelled Ping is still blocked")
				}
			})
		}
	}
}

// TestPQFallbackClosesSockets: under a policy that allows sslmode=prefer,
// a server that refuses TLS makes lib/pq fall back to plaintext; it used
// to leave the first socket to the garbage collector. With the collector
// off, the number of open descriptors stays flat over many fallbacks.
func TestPQFallbackClosesSockets(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "prefer")
	db, err := sql.Open(driverName("pq"), l.at(l.strip, "sslmode=prefer"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ping := func() {
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
	}
	ping()
	before := openFDs(t)
	for range 200 {
		ping()
	}
	if after := openFDs(t); after > before+10 {
		t.Fatalf("open descriptors grew from %d to %d over 200 fallbacks", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestClientCertificateNeverReachesAnImpostor: the client certificate is
// sent only after the server's own certificate passed verification, so a
// verify-ca impostor that asks for it gets nothing.
func TestClientCertificateNeverReachesAnImpostor(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, mode := range []string{"verify-ca", "verify-full"} {
			t.Run(drv+"/"+mode, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", mode)
				p, err := pglab.NewCertRequestImpostor(l.Addr(), l.Certs.SelfSigned.TLS)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				dsn := "host=localhost port=" + p.PortString() + " user=" + pglab.ClientCN + " dbname=" + l.Database +
					" sslmode=" + mode + " sslrootcert=" + l.Certs.CAFile + " sslcert=" + l.Certs.Client.CertFile + " sslkey=" + l.Certs.Client.KeyFile
				db, err := sql.Open(driverName(drv), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				requireReason(t, db.Ping(), securepg.ReasonCertificateUntrusted)
				db.Close()
				p.Close()
				if got := p.Received(); len(got) != 0 {
					t.Fatalf("the impostor received %d client certificate(s)", len(got))
				}
			})
		}
	}
	// The control: the same impostor with the real certificate does get it.
	isolateEnv(t)
	p, err := pglab.NewCertRequestImpostor(l.Addr(), l.Certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("securepg-pq", "host=localhost port="+p.PortString()+" user="+pglab.ClientCN+" dbname="+l.Database+
		" sslmode=verify-full sslrootcert="+l.Certs.CAFile+" sslcert="+l.Certs.Client.CertFile+" sslkey="+l.Certs.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	db.Ping()
	db.Close()
	p.Close()
	if len(p.Received()) == 0 {
		t.Fatal("the control saw no client certificate: the recorder records nothing")
	}
}

// TestPQRefusesWhatItCannotHonour: lib/pq has no sslpassword (and other
// libpq keywords): it would send them to the server as settings, a
// passphrase in cleartext where the policy allows it. securepg refuses
// them at sql.Open, without repeating the value.
func TestPQRefusesWhatItCannotHonour(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "disable")
	for _, kv := range []string{"sslpassword=Zq7-passphrase", "channel_binding=require", "require_auth=scram-sha-256", "sslcrl=/x"} {
		before, err := l.relay.DialsBefore()
		if err != nil {
			t.Fatal(err)
		}
		_, err = sql.Open(driverName("pq"), l.at(l.relay, "sslmode=disable", kv))
		if err == nil || !strings.Contains(err.Error(), strings.SplitN(kv, "=", 2)[0]) || strings.Contains(err.Error(), "Zq7") {
			t.Fatalf("%s: err = %v", kv, err)
		}
		if after, _ := l.relay.DialsBefore(); after != before+1 {
			t.Fatalf("%s: something was dialed", kv)
		}
	}
}

// TestPQRootFileAppearingLater: a root file that did not exist at
// sql.Open, which lib/pq looks for at every connect (a secret volume
// mounted late): once it appears, securepg verifies with it too, as lib/pq
// would. It never connects more weakly than the driver it wraps.
func TestPQRootFileAppearingLater(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true") // lib/pq under require: see TestPasswordProtection
	imp, err := pglab.NewTLSImpostor(l.Addr(), l.Certs.SelfSigned.TLS, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	db, err := sql.Open(driverName("pq"), l.at(imp, "sslmode=require", "sslrootcert="+ca))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	if err := db.Ping(); err != nil {
		t.Fatalf("require without a root file, judged as such: %v", err)
	}
	b, _ := os.ReadFile(l.Certs.CAFile)
	if err := os.WriteFile(ca, b, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.Ping()
		if err != nil {
			requireReason(t, err, securepg.ReasonCertificateUntrusted)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the root file that appeared is never used")
		}
		runtime.Gosched() // securepg looks at a file at most once a second
	}
}

// TestPQConnectTimeout: with connect_timeout, lib/pq cancels the context
// it dials with as soon as the dial returns; the connection that follows
// must not be cut by it.
func TestPQConnectTimeout(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	db, err := sql.Open(driverName("pq"), l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, "connect_timeout=10"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	for range 5 {
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
	}
	// And it bounds a stalling peer with no context deadline at all.
	p, err := pglab.NewStallProxy(pglab.StallAfterTLS, l.Certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stall, err := sql.Open(driverName("pq"), l.at(p, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, "connect_timeout=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	if err := pingWithin(t, stall, context.Background(), 20*time.Second); err == nil {
		t.Fatal("connected to a stalling peer")
	}
}

// TestPQUnixSocketFirstKeepsTLSForTCPHosts: lib/pq turns TLS off for every
// host when the first is a unix socket; securepg does TLS itself and gives
// the TCP hosts what the DSN asks for, as libpq does, in audit mode too.
func TestPQUnixSocketFirstKeepsTLSForTCPHosts(t *testing.T) {
	l := getLab(t)
	for _, mode := range []string{"enforce", "audit"} {
		isolateEnv(t)
		t.Setenv("SECUREPG_MODE", mode)
		t.Setenv("SECUREPG_ALLOW_UNIX_SOCKET", "true")
		var info hooks.ConnInfo
		c, err := connectorFor("pq", "host="+filepath.Join(t.TempDir(), "nosocket")+",localhost port="+l.relay.PortString()+" "+l.auth()+
			" sslmode=verify-full sslrootcert="+l.Certs.CAFile, securepg.WithLogger(discardLogger()),
			securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; return nil }}))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if info.Network != "tcp" || !info.TLS || info.Verification != "verify-full" {
			t.Fatalf("%s: %+v", mode, info)
		}
	}
}
