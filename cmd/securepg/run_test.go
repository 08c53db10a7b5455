package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/securepg/securepg/libpq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// testDriver is the --driver cli passes to check and probe ("" passes
// none: the default, securepg), set by useDriver for one test.
var testDriver string

// useDriver makes cli's check and probe, and sqlOpenCode, use backend's
// driver name ("pgx" or "pq") until t ends.
func useDriver(t testing.TB, backend string) {
	old := testDriver
	testDriver = map[string]string{"pgx": securepg.DriverName, "pq": libpq.DriverName}[backend]
	t.Cleanup(func() { testDriver = old })
}

// testDriverName is the driver name useDriver chose, securepg by default.
func testDriverName() string {
	if testDriver == "" {
		return securepg.DriverName
	}
	return testDriver
}

func TestMain(m *testing.M) {
	if os.Getenv(demoChildEnv) == "1" {
		// The demo as its own process, for TestDemoInterrupted and
		// TestDemoFailedStart: signals reach it as they reach securepg.
		os.Exit(run(context.Background(), []string{"demo"}, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(labtest.RunMain(m))
}

type result struct {
	code        int
	out, errOut string
}

// cli runs the command with the process environment (set with t.Setenv).
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	if testDriver != "" && len(args) > 0 && (args[0] == "check" || args[0] == "probe") {
		args = append([]string{args[0], "--driver", testDriver}, args[1:]...)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	r := result{code, out.String(), errb.String()}
	if strings.Contains(r.out+r.errOut, "\x1b[") {
		t.Fatal("colour codes in output that is not a terminal")
	}
	for _, s := range []string{r.out, r.errOut} {
		for _, m := range regexp.MustCompile(`password=\S*`).FindAllString(s, -1) {
			if m != "password=xxxxx" && !strings.HasPrefix(m, "password=xxxxx") {
				t.Fatalf("a password in the output: %s", m)
			}
		}
		if strings.Contains(s, "Zq7") {
			t.Fatal("a test secret in the output")
		}
	}
	return r
}

func TestUsageAndVersion(t *testing.T) {
	labtest.IsolateEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"help"}, exitOK, "usage:"},
		{[]string{"version"}, exitOK, "securepg 0.1.0"},
		{[]string{"check", "postgres://u:Zq7-argv@h/db"}, exitUsage, "never from the command line"},
		{[]string{"probe", "host=h"}, exitUsage, "never from the command line"},
		{[]string{"check", "--nope"}, exitUsage, "flag provided but not defined"},
		{[]string{"check"}, exitUsage, "no DSN"},
	} {
		r := cli(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.out+r.errOut, tc.want) {
			t.Errorf("securepg %v: exit %d, output %q; want exit %d and %q", tc.args, r.code, r.out+r.errOut, tc.code, tc.want)
		}
	}
}

// checkCase is a DSN and environment; check must agree with sql.Open.
type checkCase struct {
	name string
	dsn  string
	env  map[string]string
}

func checkCases(t *testing.T) []checkCase {
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := certs.CAFile
	svc := filepath.Join(t.TempDir(), "pg_service.conf")
	os.WriteFile(svc, []byte("[weak]\nhost=db.internal\nsslmode=disable\n[strong]\nhost=db.internal\nsslmode=verify-full\nsslrootcert="+ca+"\n"), 0o600)
	k := "host=db.internal user=app password=Zq7-check dbname=app "
	u := "postgres://app:Zq7-check@db.internal/app?"
	return []checkCase{
		{"disable", k + "sslmode=disable", nil},
		{"allow", k + "sslmode=allow", nil},
		{"prefer", k + "sslmode=prefer", nil},
		{"require", k + "sslmode=require", nil},
		{"verify-ca", k + "sslmode=verify-ca sslrootcert=" + ca, nil},
		{"verify-full", k + "sslmode=verify-full sslrootcert=" + ca, nil},
		{"no sslmode", k, nil},
		{"min require: require", k + "sslmode=require", map[string]string{"SECUREPG_MIN_SSLMODE": "require"}},
		{"min prefer: allow", k + "sslmode=allow", map[string]string{"SECUREPG_MIN_SSLMODE": "prefer"}},
		{"require + sslrootcert", k + "sslmode=require sslrootcert=" + ca, map[string]string{"SECUREPG_MIN_SSLMODE": "verify-ca"}},
		{"PGSSLMODE weaker", k + "sslrootcert=" + ca, map[string]string{"PGSSLMODE": "prefer"}},
		{"PGSSLMODE stronger", k, map[string]string{"PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca}},
		{"duplicate weak last", k + "sslmode=verify-full sslmode=disable", nil},
		{"duplicate weak first", k + "sslmode=disable sslmode=verify-full", nil},
		{"URL duplicates weak last", u + "sslmode=verify-full&sslmode=disable", nil},
		{"URL duplicates weak first", u + "sslmode=disable&sslmode=verify-full", nil},
		{"URL-encoded key", u + "ssl%6Dode=disable", nil},
		{"quoted", k + "sslmode='verify-full' sslrootcert='" + ca + "'", nil},
		{"service=", "service=weak user=app", map[string]string{"PGSERVICEFILE": svc}},
		{"PGSERVICE", "user=app", map[string]string{"PGSERVICEFILE": svc, "PGSERVICE": "strong"}},
		{"service overriding the DSN", "service=weak user=app sslmode=verify-full sslrootcert=" + ca, map[string]string{"PGSERVICEFILE": svc}},
		{"unix socket first", "host=/run/pg,db.internal user=app sslmode=verify-full", nil},
		{"unix sockets allowed", "host=/run/pg,db.internal user=app sslmode=verify-full", map[string]string{"SECUREPG_ALLOW_UNIX_SOCKET": "true"}},
		{"no host", "user=app sslmode=verify-full", nil},
		{"sslnegotiation=direct + prefer", k + "sslmode=prefer sslnegotiation=direct", nil},
		{"sslrootcert=system", k + "sslrootcert=system", nil},
		{"org root", k + "sslmode=require", map[string]string{"SECUREPG_SSLROOTCERT": ca, "SECUREPG_MIN_SSLMODE": "verify-ca"}},
		{"max TLS below min", k + "sslmode=verify-full ssl_max_protocol_version=TLSv1.2", map[string]string{"SECUREPG_MIN_TLS_VERSION": "1.3"}},
		{"audit", k + "sslmode=disable", map[string]string{"SECUREPG_MODE": "audit"}},
		{"forbidden DSN password", k + "sslmode=verify-full", map[string]string{"SECUREPG_FORBID_DSN_PASSWORD": "true"}},
		{"malformed", "host=db port=notaport password=Zq7-check", nil},
	}
}

// TestCheckAgreesWithSQLOpen: check's verdict is what sql.Open does, for
// the same tricky DSNs as the driver's own tests, on both drivers.
func TestCheckAgreesWithSQLOpen(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range checkCases(t) {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				labtest.IsolateEnv(t)
				useDriver(t, drv)
				t.Setenv("SECUREPG_MODE", "")
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				t.Setenv("DATABASE_URL", tc.dsn)
				r := cli(t, "", "check")
				db, err := sql.Open(testDriverName(), tc.dsn)
				want := exitOK
				switch {
				case errors.Is(err, securepg.ErrPolicyViolation):
					want = exitRefused
				case err != nil:
					want = exitUsage
				default:
					db.Close()
				}
				if r.code != want {
					t.Fatalf("check exit %d, sql.Open says %d (%v)\n%s%s", r.code, want, err, r.out, r.errOut)
				}
				var pe *securepg.PolicyError
				if errors.As(err, &pe) && !strings.Contains(r.out, "["+pe.Reason+"]") {
					t.Fatalf("check does not name the reason %s:\n%s", pe.Reason, r.out)
				}
			})
		}
	}
}

func TestCheckJSONAndSources(t *testing.T) {
	labtest.IsolateEnv(t)
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSSLMODE", "prefer")
	t.Setenv("PGPORT", "6543")
	t.Setenv("SECUREPG_MIN_TLS_VERSION", "1.3")
	// From standard input this time.
	r := cli(t, "host=a.internal,b.internal user=app password=Zq7-json sslrootcert="+certs.CAFile+"\n", "check", "--json")
	if r.code != exitRefused {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "refused" || rep.Driver != "pgx" || len(rep.Targets) != 2 || len(rep.Violations) != 2 ||
		!strings.Contains(rep.DSN, "password=xxxxx") || rep.Policy.MinTLSVersion != "1.3" || rep.Policy.Sources["SECUREPG_MIN_TLS_VERSION"] != "SECUREPG_MIN_TLS_VERSION" {
		t.Fatalf("report %+v", rep)
	}
	tg := rep.Targets[1]
	if tg.Host != "b.internal" || tg.Port != 6543 || tg.SSLMode != "prefer" || tg.SSLModeSource != "PGSSLMODE" || tg.HostSource != "DSN" ||
		tg.RootCASource != "DSN" || tg.RootCA != certs.CAFile || tg.MinTLS != "1.3" || tg.MinTLSSource != "SECUREPG_MIN_TLS_VERSION" ||
		len(tg.Attempts) != 2 || !tg.Attempts[0].TLS || tg.Attempts[1].TLS {
		t.Fatalf("target %+v", tg)
	}
	v := rep.Violations[0]
	if v.Reason != core.ReasonPlaintextFallback || v.Got != "prefer" || v.Want != "verify-full" || v.Fix == "" {
		t.Fatalf("violation %+v", v)
	}
	// The same for a service file, and the text form.
	svc := filepath.Join(t.TempDir(), "pg_service.conf")
	os.WriteFile(svc, []byte("[prod]\nhost=db.internal\nsslmode=verify-full\nsslrootcert="+certs.CAFile+"\n"), 0o600)
	t.Setenv("PGSERVICEFILE", svc)
	t.Setenv("DATABASE_URL", "service=prod user=app")
	r = cli(t, "", "check")
	if r.code != exitOK || !strings.Contains(r.out, "verify-full (service file [prod])") || !strings.Contains(r.out, "ALLOWED") {
		t.Fatalf("exit %d:\n%s", r.code, r.out)
	}
}

func TestPolicyCommand(t *testing.T) {
	labtest.IsolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
	t.Setenv("SECUREPG_MODE", "audit")
	r := cli(t, "", "policy")
	if r.code != exitOK || !regexp.MustCompile(`SECUREPG_MIN_SSLMODE\s+verify-ca\s+environment`).MatchString(r.out) ||
		strings.Contains(r.out, "SECUREPG_DRIVER") {
		t.Fatalf("exit %d:\n%s", r.code, r.out)
	}
	// One row per setting of the table, each with its value and source.
	for _, st := range core.Settings {
		if !regexp.MustCompile(`(?m)^` + st.Env + `\s+\S`).MatchString(r.out) {
			t.Errorf("securepg policy has no row for %s:\n%s", st.Env, r.out)
		}
	}
	t.Setenv("SECUREPG_OPERATION_SPANS", "false")
	if r = cli(t, "", "policy"); !regexp.MustCompile(`SECUREPG_OPERATION_SPANS\s+false\s+environment`).MatchString(r.out) {
		t.Fatalf("SECUREPG_OPERATION_SPANS=false:\n%s", r.out)
	}
	r = cli(t, "", "policy", "--json")
	var rep policyReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil || rep.MinSSLMode != "verify-ca" || rep.Mode != "audit" || rep.Sources["SECUREPG_MODE"] != "SECUREPG_MODE" || rep.OperationSpans {
		t.Fatalf("%v %+v", err, rep)
	}
	// Every setting has its key, set or not: a stable shape for jq.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.out), &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"allowed_networks", "allowed_hosts", "application_name", "pin_sha256", "pin_sha256_file"} {
		if v, ok := keys[k]; !ok || string(v) == "null" {
			t.Errorf("policy --json: %s is %s", k, v)
		}
	}
	// SECUREPG_DRIVER is gone: setting it is an error that names the
	// driver names; a misspelt variable is an error naming the closest.
	for _, tc := range []struct{ name, value, want string }{
		{"SECUREPG_DRIVER", "pq", `sql.Open("securepg-pq", dsn)`},
		{"SECUREPG_MIN_SSL_MODE", "disable", "did you mean SECUREPG_MIN_SSLMODE?"},
		{"SECUREPG_ALLOW_UNIX_SOCKETS", "Zq7-secret", "did you mean SECUREPG_ALLOW_UNIX_SOCKET?"},
	} {
		t.Setenv(tc.name, tc.value)
		for _, cmd := range []string{"policy", "check", "probe"} {
			t.Setenv("DATABASE_URL", "host=db sslmode=verify-full")
			r = cli(t, "", cmd)
			if r.code != exitUsage || !strings.Contains(r.errOut, tc.want) {
				t.Fatalf("%s with %s set: exit %d, %q", cmd, tc.name, r.code, r.errOut)
			}
		}
		os.Unsetenv(tc.name)
	}
	r = cli(t, "", "check", "--driver", "pq")
	if r.code != exitUsage || !strings.Contains(r.errOut, "securepg-pq (lib/pq)") {
		t.Fatalf("check --driver pq: exit %d, %q", r.code, r.errOut)
	}
	t.Setenv("SECUREPG_MIN_TLS_VERSION", "Zq7-not-a-version")
	for _, cmd := range []string{"policy", "check"} {
		t.Setenv("DATABASE_URL", "host=db sslmode=verify-full")
		r = cli(t, "", cmd)
		if r.code != exitUsage || !strings.Contains(r.errOut, "SECUREPG_MIN_TLS_VERSION") {
			t.Fatalf("%s with a bad variable: exit %d, %q", cmd, r.code, r.errOut)
		}
	}
}

func TestColourOnlyOnATerminal(t *testing.T) {
	tty, err := os.Open("/dev/null") // a character device, as a terminal is
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	for _, tc := range []struct {
		w    interface{ Write([]byte) (int, error) }
		env  []string
		want bool
	}{
		{tty, nil, true},
		{tty, []string{"NO_COLOR", "1"}, false},
		{tty, []string{"TERM", "dumb"}, false},
		{&bytes.Buffer{}, nil, false},
	} {
		labtest.IsolateEnv(t)
		t.Setenv("NO_COLOR", "")
		t.Setenv("TERM", "xterm")
		for i := 0; i+1 < len(tc.env); i += 2 {
			t.Setenv(tc.env[i], tc.env[i+1])
		}
		if got := colorful(tc.w); got != tc.want {
			t.Errorf("colorful(%T) with %v = %v, want %v", tc.w, tc.env, got, tc.want)
		}
	}
}

// TestCheckShowsTheServiceAppName: check judges another service's DSN, so
// where nothing sets application_name it shows the rule (the service's
// executable name), never its own name; what the DSN, PGAPPNAME or the
// policy set is shown with its source.
func TestCheckShowsTheServiceAppName(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Base(exe)
	for _, tc := range []struct {
		name, dsn string
		env       map[string]string
		text      string // in the text output
		json      string // application_name in --json
	}{
		{name: "none", dsn: "host=db.internal sslmode=verify-full sslrootcert=system", text: "none set: the service's executable name", json: ""},
		{name: "DSN", dsn: "host=db.internal sslmode=verify-full sslrootcert=system application_name=orders-api", text: "orders-api (DSN)", json: "orders-api"},
		{name: "PGAPPNAME", dsn: "host=db.internal sslmode=verify-full sslrootcert=system", env: map[string]string{"PGAPPNAME": "from-env"}, text: "from-env (PGAPPNAME)", json: "from-env"},
		{name: "policy", dsn: "host=db.internal sslmode=verify-full sslrootcert=system", env: map[string]string{"SECUREPG_APPLICATION_NAME": "billing"}, text: "billing (SECUREPG_APPLICATION_NAME)", json: "billing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.IsolateEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			t.Setenv("DATABASE_URL", tc.dsn)
			r := cli(t, "", "check")
			if r.code != exitOK || !regexp.MustCompile(`application_name\s+`+regexp.QuoteMeta(tc.text)).MatchString(r.out) || strings.Contains(r.out, own) {
				t.Fatalf("exit %d, want application_name %q and not %q:\n%s%s", r.code, tc.text, own, r.out, r.errOut)
			}
			r = cli(t, "", "check", "--json")
			var rep checkReport
			if err := json.Unmarshal([]byte(r.out), &rep); err != nil || rep.Connect.AppName != tc.json {
				t.Fatalf("%v: application_name %q, want %q", err, rep.Connect.AppName, tc.json)
			}
		})
	}
}

// TestCheckReadsThePasswordFile: a SECUREPG_PASSWORD_FILE that no
// connection could read (missing, a directory, empty) makes check fail
// with exit 1 and say why, without showing the file's content; a readable
// one passes. The DSN itself is allowed in every case.
func TestCheckReadsThePasswordFile(t *testing.T) {
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "pw"), filepath.Join(dir, "empty")
	if err := os.WriteFile(good, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, why string
		code            int
	}{
		{"readable", good, "", exitOK},
		{"missing", filepath.Join(dir, "nope"), "no such file", exitError},
		{"directory", dir, "regular file", exitError},
		{"empty", empty, "empty", exitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.IsolateEnv(t)
			t.Setenv("SECUREPG_PASSWORD_FILE", tc.path)
			t.Setenv("DATABASE_URL", "host=db.internal sslmode=verify-full sslrootcert=system")
			r := cli(t, "", "check")
			if r.code != tc.code || strings.Contains(r.out, "s3cret") {
				t.Fatalf("exit %d, want %d:\n%s%s", r.code, tc.code, r.out, r.errOut)
			}
			if tc.why != "" && !strings.Contains(r.out, "CANNOT CONNECT") || !strings.Contains(r.out, tc.why) {
				t.Fatalf("want CANNOT CONNECT and %q:\n%s", tc.why, r.out)
			}
			r = cli(t, "", "check", "--json")
			var rep checkReport
			if err := json.Unmarshal([]byte(r.out), &rep); err != nil || (len(rep.Problems) > 0) != (tc.why != "") {
				t.Fatalf("%v: problems %q", err, rep.Problems)
			}
		})
	}
}
