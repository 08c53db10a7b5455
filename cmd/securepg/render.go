package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/securepg/securepg/internal/core"
)

// printProbe renders a probe report; its strings were escaped when the
// report was made.
func (e *env) printProbe(r probeReport) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%s\t%s (driver %s)\n", e.bold("DSN"), r.DSN, r.Driver)
	fmt.Fprintf(w, "server\t%s\n", r.Server)
	if t := r.TLS; t != nil {
		e.printTLS(w, t)
	}
	if a := r.Auth; a != nil {
		printAuth(w, a)
	}
	if d := r.Downgrade; d != nil {
		if d.AcceptsPlaintext {
			fmt.Fprintf(w, "downgrade test\t%s\n", e.red("ACCEPTS PLAINTEXT: "+d.Detail))
		} else {
			fmt.Fprintf(w, "downgrade test\t%s\n", e.green(d.Detail))
		}
	}
	e.printPolicy(w, r.Policy)
	if ro := r.Role; ro != nil {
		e.printRole(w, ro)
	}
	if v := r.View; v != nil {
		fmt.Fprintf(w, "server view\tpg_stat_ssl: ssl=%v %s %s %d bits; PostgreSQL %s\n", v.SSL, v.Version, v.Cipher, v.Bits, v.ServerVersion)
		if v.ViaPooler {
			fmt.Fprintf(w, "\t%s\n", e.bold("behind a pooler: this is the pooler's own connection to the server, not this client's"))
			fmt.Fprintf(w, "\tsecurepg verified the client's connection to the pooler (above); the pooler's to the server is its configuration\n")
		}
	}
	w.Flush()
}

// printTLS renders the probe's own TLS look: the handshake, the key
// exchange, the chain, its verification and the pins.
func (e *env) printTLS(w io.Writer, t *tlsReport) {
	if !t.Offered {
		fmt.Fprintf(w, "TLS\t%s\n", e.red("not offered: "+t.Error))
		return
	}
	fmt.Fprintf(w, "TLS\t%s %s (what the client negotiated)\n", t.Version, t.Cipher)
	if t.Group != "" {
		fmt.Fprintf(w, "key exchange\t%s by default (%s)\n", t.Group, groupKind(t.Group))
	}
	if t.HybridPQ {
		fmt.Fprintf(w, "\t%s\n", e.green("hybrid post-quantum: yes ("+t.HybridGroup+" when offered only hybrid groups)"))
	} else {
		fmt.Fprintf(w, "\t%s\n", e.red("hybrid post-quantum: no (offered only hybrid groups, the server agreed on none)"))
	}
	for i, c := range t.Chain {
		e.printCert(w, i, c)
	}
	verdict := e.green(t.Verification)
	if t.Verification != "verify-full" {
		verdict = e.red(t.Verification)
	}
	fmt.Fprintf(w, "verification\t%s against %s\n", verdict, t.Roots)
	if t.PinMatched != nil {
		if *t.PinMatched {
			fmt.Fprintf(w, "pins\t%s\n", e.green("a certificate of the verified chain has a pinned key"))
		} else {
			fmt.Fprintf(w, "pins\t%s\n", e.red("no certificate of a verified chain has a pinned key (SECUREPG_PIN_SHA256)"))
		}
	}
	if t.Error != "" {
		fmt.Fprintf(w, "\t%s\n", e.red(t.Error))
	}
}

// printCert renders the chain's certificate [i]: its names, its expiry
// (red within 30 days) and its fingerprints.
func (e *env) printCert(w io.Writer, i int, c certJSON) {
	fmt.Fprintf(w, "certificate [%d]\t%s\n", i, c.Subject)
	fmt.Fprintf(w, "\tissuer %s\n", c.Issuer)
	if len(c.SANs) > 0 {
		fmt.Fprintf(w, "\tnames %s\n", strings.Join(c.SANs, ", "))
	}
	left := fmt.Sprintf("%d days left", c.DaysLeft)
	if c.DaysLeft < 0 {
		left = e.red("EXPIRED")
	} else if c.DaysLeft < 30 {
		left = e.red(left)
	}
	fmt.Fprintf(w, "\tnot after %s (%s)\n", c.NotAfter, left)
	fmt.Fprintf(w, "\tsha256 %s\n", c.SHA256)
	fmt.Fprintf(w, "\tpin (SPKI sha256) %s\n", c.SPKI)
}

// printAuth renders what the server asked to authenticate, or why the
// probe did not ask.
func printAuth(w io.Writer, a *authReport) {
	if a.Skipped != "" {
		fmt.Fprintf(w, "authentication\tnot checked: %s\n", a.Skipped)
		return
	}
	fmt.Fprintf(w, "authentication\t%s %s\n", a.Method, strings.Join(a.Mechanisms, ", "))
	cb := "SCRAM channel binding not offered"
	if a.ChannelBinding {
		cb = "SCRAM channel binding offered (SCRAM-SHA-256-PLUS)"
	}
	fmt.Fprintf(w, "\t%s\n", cb)
	if a.Protection != "" {
		fmt.Fprintf(w, "password\t%s\n", a.Protection)
	}
}

// printPolicy renders the connection through the policy: what it
// negotiated when allowed or audited, the reason when refused.
func (e *env) printPolicy(w io.Writer, p policyResult) {
	switch p.Outcome {
	case "allowed", "audited":
		mode := p.SSLMode
		if p.SSLModeFrom == core.ModeFromPolicy {
			mode += " (the policy's: the configuration set none)"
		}
		switch {
		case p.LoopbackPlaintext:
			fmt.Fprintf(w, "policy\t%s: sslmode %s to a loopback address, below the minimum (%s): plaintext, nothing verified\n",
				e.outcome(p.Outcome), mode, core.EnvAllowLoopPlain)
		case p.Version == "":
			fmt.Fprintf(w, "policy\t%s: sslmode %s, no TLS\n", e.outcome(p.Outcome), mode)
		default:
			fmt.Fprintf(w, "policy\t%s: sslmode %s, verification %s, %s %s\n", e.outcome(p.Outcome),
				mode, p.Verification, p.Version, p.Cipher)
		}
		if g := p.Group; g != "" {
			fmt.Fprintf(w, "\tkey exchange %s (%s)\n", g, groupKind(g))
		}
		if m := p.AuthMethod; m != "" {
			fmt.Fprintf(w, "\tlogged in with %s, channel binding %s\n", m, map[bool]string{true: "yes", false: "no"}[p.Bound])
		}
		if p.Reason != "" {
			fmt.Fprintf(w, "\taudited violation: %s\n", p.Reason)
		}
	case "refused":
		fmt.Fprintf(w, "policy\t%s [%s]\n", e.red("REFUSED"), p.Reason)
		fmt.Fprintf(w, "\t%s\n", p.Error)
	default:
		fmt.Fprintf(w, "policy\t%s\n", e.red("connection failed: "+p.Error))
	}
}

// printRole renders the role's privileges a service rarely needs, or that
// it has none.
func (e *env) printRole(w io.Writer, ro *roleReport) {
	if len(ro.Warnings) == 0 {
		fmt.Fprintf(w, "role\t%s: no superuser, no road to one or to the server's operating system, no CREATEROLE, CREATEDB, BYPASSRLS or REPLICATION\n", ro.Name)
	}
	for i, warn := range ro.Warnings {
		label := ""
		if i == 0 {
			label = "role"
			fmt.Fprintf(w, "%s\t%s has privileges a service rarely needs:\n", label, ro.Name)
		}
		fmt.Fprintf(w, "\t%s %s\n", e.red("warning:"), warn)
	}
}

// groupKind says what a key-exchange group named by crypto/tls is.
func groupKind(name string) string {
	if groupID(name) != 0 {
		return "hybrid post-quantum"
	}
	return "classical"
}

// outcome is the policy's outcome as the text report shows it: green when
// allowed, red when audit mode let a violation through.
func (e *env) outcome(o string) string {
	if o == "audited" {
		return e.red("AUDITED")
	}
	return e.green(strings.ToUpper(o))
}
