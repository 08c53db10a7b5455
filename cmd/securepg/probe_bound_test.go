package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// TestProbeKeepsItsBound: against a server that accepts connections and
// never answers, probe --downgrade-test stops at its one overall deadline
// (its stages used to add up to 40 s against a documented 30 s) on both
// backends, reports the deadline, and says on stderr that it stopped.
func TestProbeKeepsItsBound(t *testing.T) {
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	silent, err := lab.NewStallProxy(lab.StallAtOnce, certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	const bound = 300 * time.Millisecond
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("DATABASE_URL", "host=localhost port="+silent.PortString()+" user=u dbname=d sslmode=verify-full sslrootcert="+certs.CAFile)
			var out, errb bytes.Buffer
			e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, bound: bound}
			start := time.Now()
			code := e.probe(context.Background(), []string{"--driver", testDriverName(), "--json", "--downgrade-test"})
			if d := time.Since(start); d > 15*time.Second { // a sanity check only: the stages alone took 40 s
				t.Fatalf("the probe took %v", d)
			}
			var rep probeReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("%v: %s %s", err, out.String(), errb.String())
			}
			if code != exitError || rep.Policy.Outcome != "error" || !strings.Contains(rep.Policy.Error, "deadline exceeded") {
				t.Fatalf("exit %d, policy %+v", code, rep.Policy)
			}
			if !strings.Contains(errb.String(), "stopped at its bound of "+bound.String()) {
				t.Fatalf("stderr: %q", errb.String())
			}
			t.Logf("tls %+v downgrade %+v", rep.TLS, rep.Downgrade)
		})
	}
}
