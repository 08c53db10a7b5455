package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// sqlOpenCode is the exit code check must give for what sql.Open does
// with dsn, and the reason of a refusal.
func sqlOpenCode(dsn string) (int, string) {
	db, err := sql.Open(testDriverName(), dsn)
	var pe *securepg.PolicyError
	switch {
	case errors.As(err, &pe):
		return exitRefused, pe.Reason
	case err != nil:
		return exitUsage, "" // an invalid DSN or policy: a configuration error
	}
	db.Close()
	return exitOK, ""
}

// TestCheckJudgesTheExactBytes: check judges what sql.Open would get: a
// trailing newline (a Kubernetes secret file) is part of the DSN, and
// input longer than securepg accepts is refused, not cut.
func TestCheckJudgesTheExactBytes(t *testing.T) {
	labtest.IsolateEnv(t)
	url := "postgres://app@db.internal/app?sslmode=verify-full"
	for _, dsn := range []string{url + "\n", url + " ", url, "host=db.internal sslmode=verify-full\n"} {
		want, _ := sqlOpenCode(dsn)
		t.Setenv("DATABASE_URL", dsn)
		if r := cli(t, "", "check"); r.code != want {
			t.Fatalf("DATABASE_URL=%q: check exit %d, sql.Open %d", dsn, r.code, want)
		}
		t.Setenv("DATABASE_URL", "")
		r := cli(t, dsn, "check")
		if r.code != want {
			t.Fatalf("stdin %q: check exit %d, sql.Open %d", dsn, r.code, want)
		}
		if want == exitUsage && strings.HasSuffix(dsn, "\n") && !strings.Contains(r.errOut, "newline") {
			t.Fatalf("no word about the newline: %s", r.errOut)
		}
	}
	long := "host=db.internal application_name=" + strings.Repeat("a", core.MaxDSNSize) + " sslmode=verify-full"
	if r := cli(t, long, "check"); r.code != exitUsage || !strings.Contains(r.errOut, "longer than") {
		t.Fatalf("a DSN over the limit: exit %d %s", r.code, r.errOut)
	}
}

// TestCheckReportsWhatWillFail: keys a driver would send to the server as
// settings, which the server rejects, are not ALLOWED; a quoted path with
// a space does not crash check.
func TestCheckReportsWhatWillFail(t *testing.T) {
	labtest.IsolateEnv(t)
	dir := filepath.Join(t.TempDir(), "with space")
	os.Mkdir(dir, 0o755)
	certs, err := lab.GenerateCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ drv, dsn string }{
		{"pgx", "host=db.internal sslmode=verify-full load_balance_hosts=random"},
		{"pgx", "host=db.internal sslmode=verify-full hostaddr=10.0.0.1"},
		{"pq", "host=db.internal sslmode=verify-full sslpassword=x"},
		{"pq", "host=db.internal sslmode=verify-full sslrootcert='" + certs.CAFile + "'"},
		{"pgx", "host=db.internal sslmode=verify-full sslrootcert='" + certs.CAFile + "'"},
		{"pq", "host=db.internal sslmode=require sslrootcert='" + certs.CAFile + "'"},
	} {
		useDriver(t, tc.drv)
		t.Setenv("DATABASE_URL", tc.dsn)
		want, reason := sqlOpenCode(tc.dsn)
		r := cli(t, "", "check")
		if r.code != want || reason != "" && !strings.Contains(r.out, "["+reason+"]") {
			t.Fatalf("%s %q: check exit %d, sql.Open %d %s\n%s%s", tc.drv, tc.dsn, r.code, want, reason, r.out, r.errOut)
		}
		if strings.Contains(tc.dsn, "load_balance") && (r.code == exitOK || !strings.Contains(r.errOut, "load_balance_hosts")) {
			t.Fatalf("load_balance_hosts: %s", r.errOut)
		}
	}
}

// hostileCert is a CA-signed certificate whose names would clear the
// screen and draw a fake verdict on a terminal that printed them raw.
func hostileCert(t *testing.T, c *lab.Cluster) lab.KeyPair {
	t.Helper()
	evil := "\x1b[2J\x1b[HALLOWED verify-full"
	kp, err := c.Certs.Issue("cn"+evil+"\u202e", []string{"evil" + evil + ".example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// TestOutputsEscapePeersAndDSNs: what an impostor puts in its certificate,
// and what a DSN puts in a host name, reaches neither the terminal (text),
// nor JSON, nor an error message as control characters.
func TestOutputsEscapePeersAndDSNs(t *testing.T) {
	c := labtest.Shared(t)
	imp, err := lab.NewTLSImpostor(c.Addr(), hostileCert(t, c).TLS, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	for _, drv := range []string{"pgx", "pq"} {
		labtest.IsolateEnv(t)
		useDriver(t, drv)
		dsn := "host=localhost port=" + imp.PortString() + " user=" + c.User + " dbname=" + c.Database +
			" sslmode=verify-full sslrootcert=" + c.Certs.CAFile
		for _, args := range [][]string{{"probe"}, {"probe", "--json"}} {
			t.Setenv("DATABASE_URL", dsn)
			r := cli(t, "", args...)
			if strings.ContainsAny(r.out+r.errOut, "\x1b\u202e") {
				t.Fatalf("%s %v: raw control characters in the output:\n%q", drv, args, r.out)
			}
			if !strings.Contains(r.out, `\x1b`) && !strings.Contains(r.out, `\\x1b`) {
				t.Fatalf("%s %v: the hostile names are not shown escaped:\n%s", drv, args, r.out)
			}
		}
		db, err := sql.Open(testDriverName(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Ping()
		db.Close()
		if err == nil || strings.ContainsAny(err.Error(), "\x1b\u202e") {
			t.Fatalf("%s: %q", drv, err)
		}
	}
	labtest.IsolateEnv(t)
	t.Setenv("DATABASE_URL", "host=a\x1b[2J.example sslmode=prefer")
	for _, args := range [][]string{{"check"}, {"check", "--json"}} {
		if r := cli(t, "", args...); strings.Contains(r.out+r.errOut, "\x1b") {
			t.Fatalf("check %v: %q", args, r.out)
		}
	}
}

// TestProbeNeverSendsStartupToAPeerFailingTheDSNVerification: under a
// require policy, a verify-full DSN still demands verify-full: an impostor
// that fails it hears neither user nor database name, not from probe's own
// look nor from the policy connection.
func TestProbeNeverSendsStartupToAPeerFailingTheDSNVerification(t *testing.T) {
	c := labtest.Shared(t)
	for _, cert := range []lab.KeyPair{c.Certs.SelfSigned, c.Certs.WrongHost} {
		for _, drv := range []string{"pgx", "pq"} {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			imp, err := lab.NewTLSImpostor(c.Addr(), cert.TLS, 0)
			if err != nil {
				t.Fatal(err)
			}
			rep, r := probeJSON(t, "host=localhost port="+imp.PortString()+" user="+c.User+" dbname="+c.Database+
				" sslmode=verify-full sslrootcert="+c.Certs.CAFile)
			imp.Close()
			if r.code != exitRefused || rep.Auth == nil || rep.Auth.Skipped == "" || rep.Auth.Method != "" {
				t.Fatalf("%s: exit %d, auth %+v", drv, r.code, rep.Auth)
			}
			if n := imp.FromClient(); n != 0 {
				t.Fatalf("%s: the impostor heard %d bytes", drv, n)
			}
		}
	}
}

// TestProbeHonoursTheContext: a server that stalls holds probe no longer
// than its context.
func TestProbeHonoursTheContext(t *testing.T) {
	c := labtest.Shared(t)
	for _, stage := range []lab.Stall{lab.StallAtOnce, lab.StallAfterS, lab.StallAfterTLS} {
		for _, drv := range []string{"pgx", "pq"} {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			p, err := lab.NewStallProxy(stage, c.Certs.Server.TLS)
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("DATABASE_URL", "host=localhost port="+p.PortString()+" user=u sslmode=verify-full sslrootcert="+c.Certs.CAFile)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			done := make(chan int, 1)
			go func() {
				var out, errb strings.Builder
				done <- run(ctx, []string{"probe"}, strings.NewReader(""), &out, &errb)
			}()
			select {
			case code := <-done:
				if code == exitOK {
					t.Fatalf("%s: probe of a stalling peer succeeded", drv)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: probe still blocked", drv)
			}
			cancel()
			p.Close()
		}
	}
}

// FuzzCheckAgreesWithSQLOpen: for any DSN and a policy among several,
// check's verdict and reason are sql.Open's, on both drivers.
func FuzzCheckAgreesWithSQLOpen(f *testing.F) {
	for _, s := range []string{
		"host=db.internal sslmode=verify-full", "host=db.internal sslmode=prefer", "host= password=x",
		"postgres://u:p@db.internal/app?sslmode=disable&sslmode=verify-full", "host=/run/pg,db sslmode=verify-full",
		"host=db sslmode=require sslrootcert=system", "host=db sslnegotiation=direct", "hostaddr=10.0.0.1 sslmode=verify-full",
		"host=a,b port=1,2 sslmode=verify-ca", "host=db sslmode=verify-full ssl_max_protocol_version=TLSv1.2",
	} {
		f.Add(s, uint8(0))
		f.Add(s+"\n", uint8(5))
	}
	labtest.IsolateEnv(f)
	f.Fuzz(func(t *testing.T, dsn string, pol uint8) {
		if dsn == "" || len(dsn) > core.MaxDSNSize || strings.ContainsAny(dsn, "\x00") || strings.Contains(dsn, "service") {
			return
		}
		useDriver(t, []string{"pgx", "pq"}[pol%2])
		t.Setenv("SECUREPG_MIN_SSLMODE", []string{"verify-full", "require", "prefer"}[pol/2%3])
		t.Setenv("SECUREPG_MODE", []string{"enforce", "audit"}[pol/6%2])
		want, reason := sqlOpenCode(dsn)
		var out, errb strings.Builder
		got := run(context.Background(), []string{"check", "--driver", testDriverName()}, strings.NewReader(dsn), &out, &errb)
		if got != want || reason != "" && !strings.Contains(out.String(), "["+reason+"]") {
			t.Fatalf("%q: check exit %d, sql.Open %d %s\n%s%s", dsn, got, want, reason, out.String(), errb.String())
		}
	})
}

// TestProbeVerifiesWithTheDriversRoots: probe's own look at the server
// uses exactly the roots a connection would (the system's for
// sslrootcert=system, an inline root for lib/pq), not the org's: a peer
// that sql.Open refuses never hears the startup message from probe either.
func TestProbeVerifiesWithTheDriversRoots(t *testing.T) {
	c := labtest.Shared(t)
	selfSigned, err := os.ReadFile(c.Certs.SelfSigned.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ drv, dsnTail string }{
		{"pgx", "sslmode=verify-full sslrootcert=system"},
		{"pq", "sslmode=verify-full sslrootcert=system"},
		{"pq", "sslmode=verify-full sslinline=true sslrootcert='" + string(selfSigned) + "'"},
	} {
		labtest.IsolateEnv(t)
		useDriver(t, tc.drv)
		t.Setenv("SECUREPG_SSLROOTCERT", c.Certs.CAFile) // the org trusts the lab CA; the DSN does not
		p, err := lab.NewTLSImpostor(c.Addr(), c.Certs.Server.TLS, 0)
		if err != nil {
			t.Fatal(err)
		}
		rep, r := probeJSON(t, "host=localhost port="+p.PortString()+" user=u dbname=d "+tc.dsnTail)
		p.Close()
		if r.code != exitRefused || rep.Auth == nil || rep.Auth.Skipped == "" {
			t.Fatalf("%s %s: exit %d, auth %+v, policy %+v", tc.drv, tc.dsnTail[:30], r.code, rep.Auth, rep.Policy)
		}
		if n := p.FromClient(); n != 0 {
			t.Fatalf("%s: probe sent %d bytes to a peer sql.Open refuses", tc.drv, n)
		}
	}
}

// TestControlCharactersFromTheEnvironment: a policy variable naming a
// file with control characters in its name reaches no output raw.
func TestControlCharactersFromTheEnvironment(t *testing.T) {
	labtest.IsolateEnv(t)
	t.Setenv("DATABASE_URL", "host=db.example sslmode=verify-full")
	bad := filepath.Join(t.TempDir(), "ca\x1b[31m.crt")
	os.WriteFile(bad, []byte("junk"), 0o600)
	for _, root := range []string{"/nonexistent/\x1b]0;owned\x07\x1b[2J", bad} {
		t.Setenv("SECUREPG_SSLROOTCERT", root)
		for _, args := range [][]string{{"check"}, {"policy"}, {"policy", "--json"}, {"probe"}} {
			var out, errb strings.Builder
			run(context.Background(), args, strings.NewReader(""), &out, &errb)
			if strings.ContainsAny(out.String()+errb.String(), "\x1b\x07") {
				t.Fatalf("%v: raw control characters: %q", args, out.String()+errb.String())
			}
		}
	}
}

// TestProbeBoundsPeerCertificateText: what a report shows of a peer's
// certificate is bounded (a fleet holds one report per target): a subject
// of kilobytes is cut, hundreds of names are cut to a few dozen.
func TestProbeBoundsPeerCertificateText(t *testing.T) {
	c := labtest.Shared(t)
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("n%03d.%s.example", i, strings.Repeat("x", 50))
	}
	kp, err := c.Certs.Issue(strings.Repeat("C", 4000), names, nil)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := lab.NewTLSImpostor(c.Addr(), kp.TLS, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	labtest.IsolateEnv(t)
	rep, _ := probeJSON(t, "host=localhost port="+imp.PortString()+" user=u dbname=d sslmode=verify-full sslrootcert="+c.Certs.CAFile)
	if rep.TLS == nil || len(rep.TLS.Chain) == 0 {
		t.Fatalf("%+v", rep.TLS)
	}
	leaf := rep.TLS.Chain[0]
	if len(leaf.Subject) > 300 || len(leaf.SANs) != maxNamesShown || !strings.HasSuffix(leaf.Subject, "...") {
		t.Fatalf("subject %d bytes, %d names", len(leaf.Subject), len(leaf.SANs))
	}
}
