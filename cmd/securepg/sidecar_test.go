package main

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab/labtest"
)

// TestCheckLoopbackPlaintext: check marks a target whose sslmode only
// SECUREPG_ALLOW_LOOPBACK_PLAINTEXT permits (JSON and text), refuses an
// address outside loopback, and policy lists the setting.
func TestCheckLoopbackPlaintext(t *testing.T) {
	labtest.IsolateEnv(t)
	t.Setenv("SECUREPG_ALLOW_LOOPBACK_PLAINTEXT", "true")
	t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "scram")
	t.Setenv("DATABASE_URL", "host=127.0.0.1 port=6432 user=u dbname=d sslmode=disable")
	r := cli(t, "", "check", "--json")
	var rep checkReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("%v: %s %s", err, r.out, r.errOut)
	}
	if r.code != exitOK || rep.Verdict != "allowed" || len(rep.Targets) != 1 || !rep.Targets[0].LoopbackPlaintext || !rep.Policy.LoopbackPlaintext {
		t.Fatalf("exit %d, report %+v", r.code, rep)
	}
	if tr := cli(t, "", "check"); !strings.Contains(tr.out, "disable, loopback addresses only (DSN)") {
		t.Fatalf("text check does not mark the target:\n%s", tr.out)
	}
	t.Setenv("DATABASE_URL", "host=10.0.0.1 port=6432 user=u dbname=d sslmode=disable")
	if r := cli(t, "", "check"); r.code != exitRefused || !strings.Contains(r.out, "["+core.ReasonTLSDisabled+"]") {
		t.Fatalf("exit %d:\n%s", r.code, r.out)
	}
	if r := cli(t, "", "policy"); !strings.Contains(r.out, core.EnvAllowLoopPlain) {
		t.Fatalf("policy does not list %s:\n%s", core.EnvAllowLoopPlain, r.out)
	}
}

// TestProbeAddressJudged: probe's own connections (its TLS look and the
// downgrade test) are judged on the address before the dial: a listener
// on 127.0.0.2 under SECUREPG_ALLOWED_NETWORKS=127.0.0.1/32 accepts
// nothing, and the policy's refusal is network_not_allowed.
func TestProbeAddressJudged(t *testing.T) {
	labtest.IsolateEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("SECUREPG_ALLOWED_NETWORKS", "127.0.0.1/32")
	t.Setenv("SECUREPG_MIN_SSLMODE", "disable")
	rep, _ := probeJSON(t, "host=127.0.0.2 port="+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)+" user=u dbname=d sslmode=disable", "--downgrade-test")
	if rep.Policy.Outcome != "refused" || rep.Policy.Reason != core.ReasonNetworkNotAllowed {
		t.Fatalf("policy %+v", rep.Policy)
	}
	if rep.TLS == nil || !strings.Contains(rep.TLS.Error, core.ReasonNetworkNotAllowed) {
		t.Fatalf("tls %+v", rep.TLS)
	}
	if rep.Downgrade == nil || !strings.Contains(rep.Downgrade.Detail, core.ReasonNetworkNotAllowed) {
		t.Fatalf("downgrade %+v", rep.Downgrade)
	}
	// A sentinel connection is the first in the backlog: nothing came before.
	sentinel, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != sentinel.LocalAddr().String() {
		t.Fatalf("a connection from %s reached the refused address", c.RemoteAddr())
	}
}

// TestProbeLoopbackPlaintext: probe connects to the lab on 127.0.0.1
// with sslmode=disable under SECUREPG_ALLOW_LOOPBACK_PLAINTEXT and marks
// the connection.
func TestProbeLoopbackPlaintext(t *testing.T) {
	c := labtest.Shared(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_ALLOW_LOOPBACK_PLAINTEXT", "true")
			t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "scram")
			rep, r := probeJSON(t, "host=127.0.0.1 port="+strconv.Itoa(c.Port)+" user="+c.User+" password="+c.Password+" dbname="+c.Database+" sslmode=disable")
			if p := rep.Policy; p.Outcome != "allowed" || !p.LoopbackPlaintext || p.SSLMode != "disable" {
				t.Fatalf("exit %d, policy %+v: %s", r.code, p, r.errOut)
			}
			if v := rep.View; v == nil || v.SSL {
				t.Fatalf("server view %+v", v)
			}
			tr := cli(t, "", "probe")
			if !strings.Contains(tr.out, "sslmode disable to a loopback address, below the minimum (SECUREPG_ALLOW_LOOPBACK_PLAINTEXT)") ||
				strings.Contains(tr.out, "verification ,") {
				t.Fatalf("the text does not mark the loopback connection:\n%s", tr.out)
			}
		})
	}
}
