package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab"

	"github.com/securepg/securepg/lab/labtest"
)

func probeJSON(t *testing.T, dsn string, args ...string) (probeReport, result) {
	t.Helper()
	t.Setenv("DATABASE_URL", dsn)
	r := cli(t, "", append([]string{"probe", "--json"}, args...)...)
	var rep probeReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("%v: %s %s", err, r.out, r.errOut)
	}
	return rep, r
}

func TestProbeRealServer(t *testing.T) {
	c := labtest.Shared(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			rep, r := probeJSON(t, c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile), "--downgrade-test")
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.errOut)
			}
			tl := rep.TLS
			if tl == nil || !tl.Offered || tl.Version != "TLSv1.3" || !tl.ChainOK || !tl.HostOK || tl.Verification != "verify-full" ||
				len(tl.Chain) == 0 || tl.Chain[0].Subject != c.Certs.Server.Leaf.Subject.String() || tl.Chain[0].DaysLeft < 3000 ||
				!strings.Contains(strings.Join(tl.Chain[0].SANs, ","), "localhost") {
				t.Fatalf("tls %+v", tl)
			}
			if p := rep.Policy; p.Outcome != "allowed" || p.Verification != "verify-full" || p.SSLMode != "verify-full" || p.Version != "TLSv1.3" {
				t.Fatalf("policy %+v", p)
			}
			if v := rep.View; v == nil || !v.SSL || v.Version != "TLSv1.3" || !strings.HasPrefix(v.ServerVersion, "15") && !strings.HasPrefix(v.ServerVersion, "1") {
				t.Fatalf("server view %+v", v)
			}
			if a := rep.Auth; a == nil || !a.ChannelBinding || a.Method != "SASL" {
				t.Fatalf("auth %+v", a)
			}
			// The lab's pg_hba.conf has a "host" line: plaintext is accepted.
			if d := rep.Downgrade; d == nil || !d.AcceptsPlaintext {
				t.Fatalf("downgrade %+v", d)
			}
			if !strings.Contains(r.errOut, "WARNING") || !strings.Contains(r.errOut, "plaintext") {
				t.Fatalf("no warning before the downgrade test: %q", r.errOut)
			}
			// The text form.
			t.Setenv("DATABASE_URL", c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile))
			tr := cli(t, "", "probe")
			for _, want := range []string{"TLSv1.3", "server.securepg.test", "verify-full", "SCRAM channel binding offered", "ALLOWED", "pg_stat_ssl: ssl=true"} {
				if !strings.Contains(tr.out, want) {
					t.Errorf("text probe lacks %q:\n%s", want, tr.out)
				}
			}
		})
	}
}

// TestProbeImpostors: probe shows the impostor's certificate and why it
// fails, and the policy's refusal.
func TestProbeImpostors(t *testing.T) {
	c := labtest.Shared(t)
	for _, tc := range []struct {
		name, reason, subject string
		cert                  lab.KeyPair
	}{
		{"self-signed", "certificate_untrusted", "selfsigned.securepg.test", c.Certs.SelfSigned},
		{"wrong host", "hostname_mismatch", "wronghost.securepg.test", c.Certs.WrongHost},
		{"expired", "certificate_expired", "expired.securepg.test", c.Certs.Expired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.IsolateEnv(t)
			p, err := lab.NewTLSImpostor(c.Addr(), tc.cert.TLS, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			dsn := "host=localhost port=" + p.PortString() + " user=" + c.User + " password=" + c.Password + " dbname=" + c.Database +
				" sslmode=verify-full sslrootcert=" + c.Certs.CAFile
			rep, r := probeJSON(t, dsn)
			if r.code != exitRefused {
				t.Fatalf("exit %d", r.code)
			}
			if rep.TLS == nil || len(rep.TLS.Chain) == 0 || !strings.Contains(rep.TLS.Chain[0].Subject, tc.subject) ||
				rep.TLS.Verification == "verify-full" || !strings.HasPrefix(rep.TLS.Error, tc.reason) {
				t.Fatalf("tls %+v", rep.TLS)
			}
			if rep.Policy.Outcome != "refused" || rep.Policy.Reason != tc.reason {
				t.Fatalf("policy %+v", rep.Policy)
			}
			if rep.Auth == nil || rep.Auth.Skipped == "" {
				t.Fatalf("the user name was sent to an impostor: %+v", rep.Auth)
			}
			t.Setenv("DATABASE_URL", dsn)
			tr := cli(t, "", "probe")
			if !strings.Contains(tr.out, tc.subject) || !strings.Contains(tr.out, "REFUSED") || !strings.Contains(tr.out, tc.reason) {
				t.Fatalf("text probe:\n%s", tr.out)
			}
		})
	}
	t.Run("stripping proxy", func(t *testing.T) {
		labtest.IsolateEnv(t)
		p, err := lab.NewStripProxy(c.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		rep, r := probeJSON(t, "host=localhost port="+strconv.Itoa(p.Port())+" user=u sslmode=verify-full sslrootcert="+c.Certs.CAFile)
		if r.code != exitRefused || rep.TLS.Offered || rep.Policy.Reason != "tls_not_established" {
			t.Fatalf("exit %d, %+v %+v", r.code, rep.TLS, rep.Policy)
		}
	})
}

// TestDemo runs the README's quick start against the system's PostgreSQL.
func TestDemo(t *testing.T) {
	if _, err := lab.FindBinDir(); err != nil {
		labtest.Unavailable(t, err)
	}
	labtest.IsolateEnv(t)
	r := cli(t, "", "demo")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s\n%s", r.code, r.errOut, r.out)
	}
	for _, want := range []string{
		"[1/8] starting PostgreSQL", "ready on 127.0.0.1:",
		"refused: reason network_not_allowed", "refused: reason superuser_session",
		"refused before anything was dialed: reason plaintext_fallback",
		"connected: TLSv1.3, certificate verified verify-full",
		"SCRAM channel binding offered", "policy violation allowed by audit mode",
		"securepg.policy.violations{securepg.policy.outcome=refused,securepg.policy.reason=plaintext_fallback} 1",
		"securepg.policy.violations{securepg.policy.outcome=refused,securepg.policy.reason=network_not_allowed} 1",
		"securepg.policy.violations{securepg.policy.outcome=refused,securepg.policy.reason=superuser_session} 1",
		"securepg.tls.server.certificate.time_to_expiry", "cleaned up: stopped PostgreSQL",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(r.out, "connection failed") || strings.Contains(r.out, "invalid option") {
		t.Errorf("the demo's probe step failed:\n%s", r.out)
	}
	assertRemoved(t, r.out)
}

// assertRemoved checks that the cluster directory the demo names is gone.
func assertRemoved(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`removed (\S+);`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo did not say what it removed:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Fatalf("%s is still there: %v", m[1], err)
	}
}

// interruptAt cancels its context when the output shows marker: what
// Ctrl-C does to the demo (signal.NotifyContext cancels the same context).
type interruptAt struct {
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (w *interruptAt) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.cancel()
	}
	return n, err
}

func TestDemoCleansUpWhenInterrupted(t *testing.T) {
	if _, err := lab.FindBinDir(); err != nil {
		labtest.Unavailable(t, err)
	}
	labtest.IsolateEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &interruptAt{marker: "[3/8]", cancel: cancel}
	var errb bytes.Buffer
	code := run(ctx, []string{"demo"}, strings.NewReader(""), w, &errb)
	if code != exitInterrupted {
		t.Fatalf("an interrupted demo exited %d, want %d", code, exitInterrupted)
	}
	assertRemoved(t, w.buf.String())
}

// TestPasswordProtectionInTheCLI: check shows what a password may go
// through on each host; probe says whether the protection holds against
// the server that answers, and how the policy connection logged in.
func TestPasswordProtectionInTheCLI(t *testing.T) {
	c := labtest.Shared(t)
	dsn := c.DSN("sslmode=require")
	for _, tc := range []struct {
		drv, optOut string
		code        int
		rule        string
	}{
		{"pgx", "", exitOK, "SCRAM-SHA-256-PLUS only"},
		{"pq", "", exitRefused, "none (lib/pq cannot bind SCRAM to TLS)"},
		{"pq", "true", exitOK, "any (SECUREPG_ALLOW_UNVERIFIED_PASSWORD)"},
	} {
		labtest.IsolateEnv(t)
		useDriver(t, tc.drv)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", tc.optOut)
		r := cli(t, dsn, "check", "--json")
		var rep checkReport
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			t.Fatal(err, r.out)
		}
		if r.code != tc.code || len(rep.Targets) != 1 || rep.Targets[0].Password != tc.rule {
			t.Fatalf("%s opt-out=%q: exit %d, %+v", tc.drv, tc.optOut, r.code, rep.Targets)
		}
		if tc.code == exitRefused && (len(rep.Violations) == 0 || rep.Violations[0].Reason != "password_unverified_server") {
			t.Fatalf("violations %+v", rep.Violations)
		}
		if tr := cli(t, dsn, "check"); !strings.Contains(tr.out, "PASSWORD") || !strings.Contains(tr.out, tc.rule) {
			t.Fatalf("text check:\n%s", tr.out)
		}
	}

	labtest.IsolateEnv(t)
	useDriver(t, "pgx")
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	rep, r := probeJSON(t, dsn)
	if r.code != exitOK || rep.Auth == nil || !strings.HasPrefix(rep.Auth.Protection, "holds") ||
		rep.Policy.AuthMethod != "scram-sha-256-plus" || !rep.Policy.Bound {
		t.Fatalf("exit %d: auth %+v, policy %+v", r.code, rep.Auth, rep.Policy)
	}
	imp, err := lab.NewAuthImpostor(lab.AskCleartext, c.Addr(), c.Certs.SelfSigned.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	rep, r = probeJSON(t, "host=localhost port="+imp.PortString()+" user="+c.User+" password="+c.Password+" dbname="+c.Database+" sslmode=require")
	if r.code != exitRefused || rep.Auth == nil || !strings.HasPrefix(rep.Auth.Protection, "refuses the login: the server asks for cleartext password") ||
		rep.Policy.Reason != "password_unverified_server" {
		t.Fatalf("exit %d: auth %+v, policy %+v", r.code, rep.Auth, rep.Policy)
	}
	imp.Close()
	for _, m := range imp.Received() {
		if strings.Contains(string(m), c.Password) {
			t.Fatal("probe sent the password to the impostor")
		}
	}
}

// TestProbeRoleAttributes: probe reports the session role's attributes
// that matter for least privilege, and warns on each it has.
func TestProbeRoleAttributes(t *testing.T) {
	c := labtest.Shared(t)
	labtest.IsolateEnv(t)
	plain, _ := probeJSON(t, c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile))
	if ro := plain.Role; ro == nil || ro.Name != c.User || ro.Superuser || len(ro.Warnings) != 0 {
		t.Fatalf("plain role %+v", ro)
	}
	superDSN := "host=localhost port=" + strconv.Itoa(c.Port) + " user=" + lab.SuperUser + " password=" + c.Password +
		" dbname=" + c.Database + " sslmode=verify-full sslrootcert=" + c.Certs.CAFile
	super, _ := probeJSON(t, superDSN)
	ro := super.Role
	if ro == nil || !ro.Superuser || !ro.CreateRole || !ro.CreateDB || !ro.BypassRLS || !ro.Replication || len(ro.Warnings) != 5 {
		t.Fatalf("superuser role %+v", ro)
	}
	t.Setenv("DATABASE_URL", superDSN)
	tr := cli(t, "", "probe")
	for _, want := range []string{"SUPERUSER", "BYPASSRLS", "REPLICATION", "SECUREPG_FORBID_SUPERUSER"} {
		if !strings.Contains(tr.out, want) {
			t.Errorf("text probe lacks %q:\n%s", want, tr.out)
		}
	}
	if strings.Contains(tr.out, c.Password) {
		t.Fatal("the password in probe's output")
	}
}

// TestProbeLeastPrivilege: probe names each road to superuser or the
// server's operating system that SECUREPG_FORBID_SUPERUSER refuses, by
// reason code and why, in JSON and in text, whether or not the policy is
// set.
func TestProbeLeastPrivilege(t *testing.T) {
	c := labtest.Shared(t)
	ctx := context.Background()
	admin, err := c.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, s := range []string{
		"DROP ROLE IF EXISTS securepg_probe_program", "DROP ROLE IF EXISTS securepg_probe_member",
		"DROP ROLE IF EXISTS securepg_probe_createrole",
		"CREATE ROLE securepg_probe_program LOGIN PASSWORD '" + c.Password + "'",
		"GRANT pg_execute_server_program, pg_read_server_files, pg_write_server_files TO securepg_probe_program",
		"CREATE ROLE securepg_probe_member LOGIN NOINHERIT PASSWORD '" + c.Password + "'",
		"GRANT " + lab.SuperUser + " TO securepg_probe_member",
		"CREATE ROLE securepg_probe_createrole LOGIN CREATEROLE PASSWORD '" + c.Password + "'",
	} {
		if _, err := admin.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	createRole := []string{"privileged_role:CREATEROLE on PostgreSQL " + strconv.Itoa(c.Major)}
	if c.Major >= 16 {
		createRole = nil
	}
	for _, tc := range []struct {
		user     string
		findings []string // reason:what the detail says
	}{
		{c.User, nil},
		{lab.SuperUser, []string{"superuser_session:is_superuser=on"}},
		{"securepg_probe_member", []string{"superuser_session:SET ROLE"}},
		{"securepg_probe_program", []string{"privileged_role:COPY ... TO/FROM PROGRAM", "privileged_role:pg_read_server_files", "privileged_role:pg_write_server_files"}},
		{"securepg_probe_createrole", createRole},
	} {
		t.Run(tc.user, func(t *testing.T) {
			labtest.IsolateEnv(t)
			dsn := "host=localhost port=" + strconv.Itoa(c.Port) + " user=" + tc.user + " password=" + c.Password +
				" dbname=" + c.Database + " sslmode=verify-full sslrootcert=" + c.Certs.CAFile
			rep, _ := probeJSON(t, dsn)
			if rep.Role == nil || len(rep.Role.Findings) != len(tc.findings) {
				t.Fatalf("role %+v, want findings %q", rep.Role, tc.findings)
			}
			for i, want := range tc.findings {
				reason, detail, _ := strings.Cut(want, ":")
				if f := rep.Role.Findings[i]; f.Reason != reason || !strings.Contains(f.Detail, detail) {
					t.Errorf("finding %d %+v, want %s", i, f, want)
				}
			}
			t.Setenv("DATABASE_URL", dsn)
			tr := cli(t, "", "probe")
			for _, want := range tc.findings {
				reason, detail, _ := strings.Cut(want, ":")
				if !strings.Contains(tr.out, reason+": ") || !strings.Contains(tr.out, detail) {
					t.Errorf("text probe does not name %s:\n%s", want, tr.out)
				}
			}
		})
	}
}
