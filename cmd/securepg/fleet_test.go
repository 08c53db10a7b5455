package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// TestProbeFleet: probe --targets probes every line (a DSN or host:port),
// a few at a time, each within its bound, on both backends: the real
// server passes; a self-signed impostor fails without receiving a single
// byte after its handshake (no user name, no password); a silent server
// fails within the per-target bound; a DSN the policy refuses is refused
// without a dial; the exit status says not every target passes, and 0
// when they all do.
func TestProbeFleet(t *testing.T) {
	c := labtest.Shared(t)
	silent, err := lab.NewStallProxy(lab.StallAtOnce, c.Certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			imp, err := lab.NewTLSImpostor(c.Addr(), c.Certs.SelfSigned.TLS, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("PGUSER", c.User)
			t.Setenv("PGPASSWORD", c.Password)
			t.Setenv("PGDATABASE", c.Database)
			t.Setenv("SECUREPG_SSLROOTCERT", c.Certs.CAFile)
			// A policy that accepts an unverified server: the fleet probe
			// still sends no user name to one.
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			good := c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile)
			targets := strings.Join([]string{
				"# the fleet",
				good,
				"localhost:" + imp.PortString(),
				"",
				"localhost:" + silent.PortString(),
				"host=localhost port=5432 sslmode=disable",
			}, "\n")
			file := filepath.Join(t.TempDir(), "targets")
			if err := os.WriteFile(file, []byte(targets), 0o600); err != nil {
				t.Fatal(err)
			}
			r := cli(t, "", "probe", "--targets", file, "--json", "--timeout", "2s", "--parallel", "3")
			imp.Close()
			if r.code != exitRefused {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
			var got []fleetEntry
			dec := json.NewDecoder(strings.NewReader(r.out))
			for dec.More() {
				var en fleetEntry
				if err := dec.Decode(&en); err != nil {
					t.Fatal(err)
				}
				got = append(got, en)
			}
			if len(got) != 4 {
				t.Fatalf("%d entries: %s", len(got), r.out)
			}
			real, impostor, stalled, plain := got[0], got[1], got[2], got[3]
			if real.Line != 2 || real.Verdict != "pass" || real.Policy.Outcome != "allowed" || real.DaysLeft == nil || *real.DaysLeft < 3000 ||
				!strings.Contains(strings.Join(real.TLSVersions, ","), "TLSv1.3") || real.Auth == nil || !real.Auth.ChannelBinding {
				t.Fatalf("the real server: %+v", real)
			}
			if impostor.Line != 3 || impostor.Verdict != "fail" || impostor.Policy.Outcome != "not_attempted" || impostor.TLS == nil ||
				!strings.HasPrefix(impostor.TLS.Error, "certificate_untrusted") {
				t.Fatalf("the impostor: %+v %+v", impostor, impostor.TLS)
			}
			if n := imp.FromClient(); n != 0 {
				t.Fatalf("the impostor received %d bytes after its handshake: a startup message went to an unverified server", n)
			}
			if stalled.Line != 5 || stalled.Verdict != "unreachable" || !strings.HasPrefix(stalled.Policy.Error, "unreachable: no answer to the SSLRequest") {
				t.Fatalf("the silent server: %+v", stalled)
			}
			if plain.Line != 6 || plain.Verdict != "fail" || plain.Policy.Outcome != "refused" || plain.Policy.Reason != "tls_disabled" || plain.TLS != nil {
				t.Fatalf("the plaintext DSN: %+v", plain)
			}
			if !strings.Contains(r.errOut, "1 of 4 targets pass the policy") || strings.Contains(r.out+r.errOut, c.Password) {
				t.Fatalf("summary: %s", r.errOut)
			}
			// Every target passing: exit 0; the table on standard output.
			t.Setenv("DATABASE_URL", "")
			r = cli(t, good+"\n", "probe", "--targets", "-")
			if r.code != exitOK || !strings.Contains(r.out, "1 of 1 targets pass the policy") {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
			// A target nobody answers at is unreachable, with the dial's
			// own error, not a failed verification; with no other
			// failure, the exit status is 1, not 3.
			dead := closedPort(t)
			r = cli(t, good+"\nlocalhost:"+dead+"\n", "probe", "--targets", "-", "--json")
			if r.code != exitError || !strings.Contains(r.out, `"verdict":"unreachable"`) || !strings.Contains(r.out, "unreachable: dial tcp") ||
				!strings.Contains(r.out, "connection refused") || strings.Contains(r.out, "not verified") {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
			// Audit mode connects to what the policy refuses: the target
			// still fails it.
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-full")
			t.Setenv("SECUREPG_MODE", "audit")
			r = cli(t, c.DSN("sslmode=verify-ca", "sslrootcert="+c.Certs.CAFile)+"\n", "probe", "--targets", "-", "--json")
			if r.code != exitRefused || !strings.Contains(r.out, `"verdict":"fail"`) || !strings.Contains(r.out, `"outcome":"audited"`) {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
		})
	}
}

// TestProbeFleetBounds: --parallel and --timeout out of their ranges are
// refused, not clamped; without --targets they are refused too.
func TestProbeFleetBounds(t *testing.T) {
	labtest.IsolateEnv(t)
	for _, args := range [][]string{
		{"--targets", "-", "--parallel", "0"},
		{"--targets", "-", "--parallel", "65"},
		{"--targets", "-", "--timeout", "0s"},
		{"--targets", "-", "--timeout", "5m"},
		{"--parallel", "4"},
	} {
		r := cli(t, "localhost:1\n", append([]string{"probe"}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.errOut, "--") {
			t.Errorf("%v: exit %d: %s %s", args, r.code, r.out, r.errOut)
		}
	}
	// A line that is neither a DSN nor host:port is an error, not a host
	// name to look up; the policy's refusal is given under the table with
	// its reason, and the server it names.
	r := cli(t, "this is not a dsn\nhost=db.example.internal sslmode=disable\n", "probe", "--targets", "-")
	if r.code != exitRefused || !strings.Contains(r.out, "line 1: the line is neither a DSN") ||
		!strings.Contains(r.out, "db.example.internal:5432") || !strings.Contains(r.out, "line 2: securepg: db.example.internal:5432: sslmode=disable") {
		t.Errorf("exit %d: %s %s", r.code, r.out, r.errOut)
	}
}

// TestProbeFleetServers: a fleet of PostgreSQL 15, PostgreSQL 18 and a
// PgBouncer in front of 15 passes on both backends, the pooler is
// detected, and each server's chain and versions are reported.
func TestProbeFleetServers(t *testing.T) {
	labtest.Slow(t, "a second server and a pooler")
	c15, c18 := labtest.Shared(t), labtest.SharedVersion(t, 18)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := lab.StartPgBouncer(ctx, c15, lab.PgBouncerConfig{ServerTLSMode: "disable"})
	if errors.Is(err, lab.ErrNoPgBouncer) {
		labtest.Unavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	front, err := lab.NewHybridFront(c15.Addr(), c15.Certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	targets := strings.Join([]string{
		c15.DSN("sslmode=verify-full", "sslrootcert="+c15.Certs.CAFile),
		c18.DSN("sslmode=verify-full", "sslrootcert="+c18.Certs.CAFile),
		b.DSN("sslmode=verify-full", "sslrootcert="+c15.Certs.CAFile),
		"host=localhost port=" + front.PortString() + " user=" + c15.User + " password=" + c15.Password + " dbname=" + c15.Database +
			" sslmode=verify-full sslrootcert=" + c15.Certs.CAFile,
	}, "\n")
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			r := cli(t, targets, "probe", "--targets", "-", "--json")
			if r.code != exitOK || !strings.Contains(r.errOut, "4 of 4 targets pass the policy") {
				t.Fatalf("exit %d: %s %s", r.code, r.out, r.errOut)
			}
			dec := json.NewDecoder(strings.NewReader(r.out))
			var got []fleetEntry
			for dec.More() {
				var en fleetEntry
				if err := dec.Decode(&en); err != nil {
					t.Fatal(err)
				}
				got = append(got, en)
			}
			for i, en := range got {
				pooler := i == 2
				if en.Verdict != "pass" || en.ViaPooler != pooler || en.DaysLeft == nil || len(en.TLSVersions) == 0 || en.TLS == nil || en.TLS.Verification != "verify-full" {
					t.Fatalf("target %d: %+v", i+1, en)
				}
			}
			if v := got[1].View; v == nil || !strings.HasPrefix(v.ServerVersion, "18") {
				t.Fatalf("the PostgreSQL 18 target: %+v", v)
			}
			// The lab's servers (OpenSSL before 3.5) cannot negotiate a
			// hybrid post-quantum group; the Go front can.
			for i, en := range got {
				if en.TLS.HybridPQ != (i == 3) {
					t.Fatalf("target %d: hybrid_pq %v (group %q)", i+1, en.TLS.HybridPQ, en.TLS.Group)
				}
			}
			if !regexp.MustCompile(`(?m)^4\s.*X25519MLKEM768\s+true`).MatchString(r.errOut) {
				t.Fatalf("the table does not show the front's hybrid group:\n%s", r.errOut)
			}
		})
	}
}

// closedPort is a loopback port nobody listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}
