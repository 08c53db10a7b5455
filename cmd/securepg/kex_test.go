package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// TestProbeKeyExchange: probe says what group the server chooses by
// default and whether it can negotiate a hybrid post-quantum one (offered
// only those), in JSON and text, on both backends: the lab's PostgreSQL
// (OpenSSL older than 3.5) cannot, the Go front before it can; under
// SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq the policy's connection is refused
// by the one and allowed through the other.
func TestProbeKeyExchange(t *testing.T) {
	c := labtest.Shared(t)
	front, err := lab.NewHybridFront(c.Addr(), c.Certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	auth := " user=" + c.User + " password=" + c.Password + " dbname=" + c.Database + " sslmode=verify-full sslrootcert=" + c.Certs.CAFile
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv+"/server", func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			rep, r := probeJSON(t, "host=localhost port="+strconv.Itoa(c.Port)+auth)
			if r.code != exitRefused {
				t.Fatalf("exit %d: %s", r.code, r.errOut)
			}
			if tl := rep.TLS; tl == nil || tl.Group == "" || groupKind(tl.Group) != "classical" || tl.HybridPQ || tl.HybridGroup != "" {
				t.Fatalf("tls %+v", rep.TLS)
			}
			if rep.Policy.Outcome != "refused" || rep.Policy.Reason != "key_exchange_classical" || !strings.Contains(rep.Policy.Error, "ssl_groups") {
				t.Fatalf("policy %+v", rep.Policy)
			}
			t.Setenv("DATABASE_URL", "host=localhost port="+strconv.Itoa(c.Port)+auth)
			tr := cli(t, "", "probe")
			for _, want := range []string{"key exchange", "(classical)", "hybrid post-quantum: no", "REFUSED [key_exchange_classical]"} {
				if !strings.Contains(tr.out, want) {
					t.Errorf("text probe lacks %q:\n%s", want, tr.out)
				}
			}
		})
		t.Run(drv+"/front", func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			rep, r := probeJSON(t, "host=localhost port="+front.PortString()+auth)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s %+v", r.code, r.errOut, rep.Policy)
			}
			if tl := rep.TLS; tl == nil || tl.Group != "X25519MLKEM768" || !tl.HybridPQ || tl.HybridGroup != "X25519MLKEM768" {
				t.Fatalf("tls %+v", rep.TLS)
			}
			if p := rep.Policy; p.Outcome != "allowed" || p.Group != "X25519MLKEM768" || !p.HybridPQ {
				t.Fatalf("policy %+v", p)
			}
			t.Setenv("DATABASE_URL", "host=localhost port="+front.PortString()+auth)
			tr := cli(t, "", "probe")
			for _, want := range []string{"X25519MLKEM768 by default (hybrid post-quantum)", "hybrid post-quantum: yes", "key exchange X25519MLKEM768 (hybrid post-quantum)"} {
				if !strings.Contains(tr.out, want) {
					t.Errorf("text probe lacks %q:\n%s", want, tr.out)
				}
			}
		})
	}
}
