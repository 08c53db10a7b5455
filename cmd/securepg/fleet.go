package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/securepg/securepg/internal/core"
)

// The fleet report: securepg probe --targets FILE (or - for standard
// input) probes many endpoints, a few at a time, each within its own
// bound, and says for each whether it passes the policy.

const (
	maxFleetTargets  = 10000 // lines beyond this are refused, not cut
	maxFleetParallel = 64
	fleetParallel    = 8
)

// The verdicts of probe --targets: pass (the policy lets a connection
// through and it was made), fail (the policy refuses it, or audit mode
// let through what it would refuse, or the server's certificate fails
// verification), unreachable (no connection, or no answer), error (the
// target line itself, or the probe, failed).
const (
	verdictPass        = "pass"
	verdictFail        = "fail"
	verdictUnreachable = "unreachable"
	verdictError       = "error"
)

// fleetExit is the exit status of probe --targets: 0 when every target
// passes, 3 when any fails the policy, else 1 when any could not be
// judged (unreachable, or an error).
func fleetExit(entries []fleetEntry) int {
	code := exitOK
	for _, en := range entries {
		switch en.Verdict {
		case verdictPass:
		case verdictFail:
			return exitRefused
		default:
			code = exitError
		}
	}
	return code
}

// fleetEntry is one target's line of probe --targets --json.
type fleetEntry struct {
	Line        int      `json:"line"` // in the targets file
	Verdict     string   `json:"verdict"`
	TLSVersions []string `json:"tls_versions_accepted"` // each version the server completes a handshake with, alone
	DaysLeft    *int     `json:"days_to_expiry,omitempty"`
	ViaPooler   bool     `json:"pooler_detected"`
	probeReport
}

// fleet runs probe --targets.
func (e *env) fleet(ctx context.Context, source string, parallel int, bound time.Duration, asJSON, downgradeTest bool) int {
	lines, err := e.readTargets(source)
	if err != nil {
		return e.fail(exitUsage, "probe: %v", err)
	}
	p, err := e.policyFromEnv()
	if err != nil {
		return e.fail(exitUsage, "%v", strings.TrimPrefix(err.Error(), "securepg: "))
	}
	backend, err := e.backend()
	if err != nil {
		return e.fail(exitUsage, "probe: %v", err)
	}
	p.Driver = backend
	parallel = min(max(parallel, 1), maxFleetParallel)
	if downgradeTest {
		fmt.Fprintln(e.stderr, "securepg probe: WARNING: the downgrade test sends a startup packet (user and database names) in plaintext to each target verified in full")
	}
	entries := make([]fleetEntry, len(lines))
	// Targets run in parallel: their stderr lines are serialized.
	shared := *e
	shared.stderr = &lockedWriter{w: e.stderr}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, l := range lines {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			entries[i] = fleetEntry{Line: l.n, Verdict: verdictError, TLSVersions: []string{}, probeReport: probeReport{DSN: "", Policy: policyResult{Outcome: "error", Error: "not probed: " + ctx.Err().Error()}}}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			tctx, cancel := context.WithTimeout(ctx, bound)
			defer cancel()
			entries[i] = shared.fleetTarget(tctx, l, p, downgradeTest)
		}()
	}
	wg.Wait()
	code := fleetExit(entries)
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, en := range entries {
			enc.Encode(en)
		}
		e.fleetTable(e.stderr, entries)
	} else {
		e.fleetTable(e.stdout, entries)
	}
	return code
}

type targetLine struct {
	n   int
	dsn string
	bad string // why the line is neither a DSN nor host:port
}

// readTargets reads one DSN or host:port per line; blank lines and lines
// starting with # are skipped. Bounded: a line longer than a DSN may be,
// or more than maxFleetTargets targets, is refused.
func (e *env) readTargets(source string) ([]targetLine, error) {
	var r io.Reader = e.stdin
	if source != "-" {
		f, err := os.Open(source)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), core.MaxDSNSize+2)
	var out []targetLine
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if len(out) == maxFleetTargets {
			return nil, fmt.Errorf("more than %d targets; nothing was probed", maxFleetTargets)
		}
		dsn, bad := targetDSN(line)
		out = append(out, targetLine{n: n, dsn: dsn, bad: bad})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the targets: %v (a line is at most %d bytes); nothing was probed", err, core.MaxDSNSize)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets in %s", core.SafeText(source))
	}
	return out, nil
}

// targetDSN is the DSN of a targets line: the line itself, or for
// host:port a keyword/value DSN naming them (user, database, sslmode and
// the rest come from the PG* variables and the policy, as for any DSN).
func targetDSN(line string) (dsn, bad string) {
	if strings.Contains(line, "=") || strings.Contains(line, "://") {
		return line, ""
	}
	if strings.ContainsFunc(line, unicode.IsSpace) {
		return "", "neither a DSN (key=value, or a URL) nor host:port"
	}
	host, port, err := net.SplitHostPort(line)
	if err != nil {
		return "host=" + quoteKV(line), ""
	}
	return "host=" + quoteKV(host) + " port=" + quoteKV(port), ""
}

// quoteKV quotes a keyword/value value as both drivers read it.
func quoteKV(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// fleetTarget probes one target within ctx's bound.
func (e *env) fleetTarget(ctx context.Context, l targetLine, p core.Policy, downgradeTest bool) fleetEntry {
	en := fleetEntry{Line: l.n, Verdict: verdictFail, TLSVersions: []string{}}
	if l.bad != "" {
		en.Verdict = verdictError
		en.probeReport = probeReport{Driver: p.Driver, Policy: policyResult{Outcome: "error", Error: "the line is " + l.bad}}
		return en
	}
	b, plan, err := prepare(l.dsn, p)
	if err != nil {
		en.Verdict = verdictError
		en.probeReport = probeReport{DSN: redactDSN(p.Driver, l.dsn), Driver: p.Driver, Policy: policyResult{Outcome: "error", Error: safe(strings.TrimPrefix(err.Error(), "securepg: "))}}
		return en
	}
	if refusal, _, _ := core.JudgePlan(plan, p); refusal != nil {
		// Refused before any dial, as sql.Open refuses it: nothing is sent.
		en.probeReport = probeReport{DSN: redactDSN(p.Driver, l.dsn), Driver: p.Driver,
			Policy: policyResult{Outcome: "refused", Reason: refusal.Reason, Error: safe(refusal.Error())}}
		if len(plan.Targets) > 0 {
			en.Server = safe(plan.Targets[0].Addr())
		}
		return en
	}
	fe := *e
	fe.verifiedOnly = true
	en.probeReport = fe.probeReport(ctx, l.dsn, p, b, plan, downgradeTest)
	if en.View != nil {
		en.ViaPooler = en.View.ViaPooler
	}
	if en.TLS != nil && len(en.TLS.Chain) > 0 {
		d := en.TLS.Chain[0].DaysLeft
		for _, c := range en.TLS.Chain {
			d = min(d, c.DaysLeft)
		}
		en.DaysLeft = &d
	}
	for i := range plan.Targets {
		if t := plan.Targets[i]; t.Network == "tcp" {
			en.TLSVersions = tlsVersions(ctx, t, p)
			break
		}
	}
	switch {
	case en.Policy.Outcome == "allowed":
		en.Verdict = verdictPass
	case en.Policy.Outcome == "error":
		en.Verdict = verdictError
	case en.TLS != nil && en.TLS.unreachable:
		en.Verdict = verdictUnreachable
	}
	// "audited": audit mode let through what the policy refuses; the
	// target does not pass it.
	return en
}

// tlsVersions reports each TLS version the server completes a handshake
// with when the client offers that version alone. Only the handshake is
// made: no PostgreSQL message but the SSLRequest is sent.
func tlsVersions(ctx context.Context, t core.Target, p core.Policy) []string {
	addr := t.Addr()
	if t.Hostaddr != "" {
		addr = net.JoinHostPort(t.Hostaddr, strconv.Itoa(int(t.Port)))
	}
	out := []string{}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		if handshakes(ctx, addr, t.Host, v, core.DialControl(p, t)) {
			out = append(out, core.TLSVersionName(v))
		}
	}
	return out
}

func handshakes(ctx context.Context, addr, host string, version uint16, control func(string, string, syscall.RawConn) error) bool {
	c, release, err := dialBounded(ctx, addr, 10*time.Second, control)
	if err != nil {
		return false
	}
	defer c.Close()
	defer release()
	if _, err := c.Write(sslRequest); err != nil {
		return false
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'S' {
		return false
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version} // the version only: nothing is sent after it
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	return tls.Client(c, cfg).HandshakeContext(ctx) == nil
}

// fleetTable is the summary: one row per target, then the count.
func (e *env) fleetTable(out io.Writer, entries []fleetEntry) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LINE\tSERVER\tVERDICT\tTLS\tGROUP\tHYBRID-PQ\tEXPIRY\tSCRAM-PLUS\tPOOLER\tPLAINTEXT\tPOLICY")
	pass := 0
	for _, en := range entries {
		if en.Verdict == verdictPass {
			pass++
		}
		expiry, plus, plain, group, pq := "-", "-", "-", "-", "-"
		if t := en.TLS; t != nil && t.Offered {
			group, pq = cmp.Or(t.Group, "-"), strconv.FormatBool(t.HybridPQ)
		}
		if en.DaysLeft != nil {
			expiry = strconv.Itoa(*en.DaysLeft) + "d"
		}
		if en.Auth != nil && en.Auth.Skipped == "" {
			plus = strconv.FormatBool(en.Auth.ChannelBinding)
		}
		if en.Downgrade != nil {
			plain = strconv.FormatBool(en.Downgrade.AcceptsPlaintext)
		}
		policy := en.Policy.Outcome
		if en.Policy.Reason != "" {
			policy += " (" + en.Policy.Reason + ")"
		}
		pooler := "-"
		if en.View != nil {
			pooler = strconv.FormatBool(en.ViaPooler)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", en.Line, cmp.Or(en.Server, en.DSN, "-"), en.Verdict,
			cmp.Or(strings.Join(en.TLSVersions, ","), "none"), group, pq, expiry, plus, pooler, plain, policy)
	}
	w.Flush()
	// Why each target that does not pass does not: the policy's words,
	// fix included.
	for _, en := range entries {
		if en.Verdict != verdictPass && en.Policy.Error != "" {
			fmt.Fprintf(out, "line %d: %s\n", en.Line, en.Policy.Error)
		}
	}
	fmt.Fprintf(out, "%d of %d targets pass the policy\n", pass, len(entries))
}

// lockedWriter serializes writes from parallel probes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
