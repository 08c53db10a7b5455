package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab/labtest"
	"github.com/securepg/securepg/lab/parity"
)

// TestParityCLI runs TestParity's table (lab/parity) through check
// and probe, on both backends, and asserts the same verdict: the reason
// code of the refusal, or allowed. check is offline and judges the rows
// decided before anything is dialed; probe connects. Where a row's
// verdict is an error the peer caused, probe's output holds no control
// character.
func TestParityCLI(t *testing.T) {
	c := labtest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := parity.CreateRoles(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, k := range parity.Cases() {
		t.Run(k.Name, func(t *testing.T) {
			for _, w := range parity.CLIWays {
				t.Run(string(w), func(t *testing.T) {
					if why := parity.NotApplicable(k, w); why != "" {
						t.Logf("not applicable: %s", why)
						return
					}
					labtest.IsolateEnv(t)
					s, err := parity.Prepare(c, k, t.TempDir(), t.Setenv)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					backend := "pgx"
					if w == parity.CheckPQ || w == parity.ProbePQ {
						backend = "pq"
					}
					useDriver(t, backend)
					var got string
					switch w {
					case parity.CheckPgx, parity.CheckPQ:
						got = checkVerdict(t, s.DSN)
					default:
						got = probeVerdict(t, s.DSN)
					}
					if got != k.Want {
						t.Errorf("DIVERGENCE (a security finding, issue 21 point 8): %s gives %q where the table and the library's ways give %q", w, got, k.Want)
					}
					s.Close()
					if k.Harvest {
						if s.Harvested() == "" {
							t.Error("with the protection off the peer got nothing: the trap does not work")
						}
					} else if k.Want != parity.Allowed {
						if h := s.Harvested(); h != "" {
							t.Errorf("the peer got %s", h)
						}
						if s.Peer != nil && s.Peer.Sessions() != 0 {
							t.Errorf("the peer obtained %d sessions", s.Peer.Sessions())
						}
					}
				})
			}
		})
	}
}

// checkVerdict is check's verdict on dsn: allowed, or the refusal's reason.
func checkVerdict(t *testing.T, dsn string) string {
	t.Helper()
	r := cli(t, dsn, "check", "--json")
	var rep checkReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("%v: %s %s", err, r.out, r.errOut)
	}
	switch {
	case rep.Verdict == "allowed" && r.code == exitOK:
		return parity.Allowed
	case rep.Verdict == "refused" && r.code == exitRefused && len(rep.Violations) > 0:
		return rep.Violations[0].Reason
	}
	return "exit " + strconv.Itoa(r.code) + ", verdict " + rep.Verdict
}

// probeVerdict is probe's verdict on dsn: allowed, the refusal's reason,
// or Escaped for an error whose report holds no control character.
func probeVerdict(t *testing.T, dsn string) string {
	t.Helper()
	rep, r := probeJSON(t, dsn)
	if x := parity.ControlRune(strings.NewReplacer("\n", "", "\t", "").Replace(r.out + r.errOut)); x >= 0 {
		return "output with control character " + string(x)
	}
	p := rep.Policy
	switch {
	case p.Outcome == "allowed" && r.code == exitOK:
		return parity.Allowed
	case p.Outcome == "refused" && r.code == exitRefused:
		return p.Reason
	case p.Outcome == "error" && r.code != exitOK:
		return parity.Escaped
	}
	return "exit " + strconv.Itoa(r.code) + ", outcome " + p.Outcome + " " + p.Reason + ": " + p.Error
}
