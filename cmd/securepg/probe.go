package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
)

// probeReport is probe's --json output. Its shape is stable. Every string
// that came from the server (certificate names, messages, its own view)
// or the DSN is escaped: an impostor cannot write to the terminal.
type probeReport struct {
	DSN       string       `json:"dsn"` // redacted
	Driver    string       `json:"driver"`
	Server    string       `json:"server"`
	TLS       *tlsReport   `json:"tls"` // the client's own look at the server, nil if TLS was refused
	Policy    policyResult `json:"policy"`
	View      *serverView  `json:"server_view,omitempty"`
	Role      *roleReport  `json:"role,omitempty"`
	Auth      *authReport  `json:"auth,omitempty"`
	Downgrade *downgrade   `json:"downgrade,omitempty"`
}

type tlsReport struct {
	Offered bool   `json:"offered"`
	Version string `json:"version,omitempty"`
	Cipher  string `json:"cipher,omitempty"`
	Group   string `json:"group,omitempty"` // the key-exchange group the server chose from crypto/tls's default offer
	// HybridPQ: the server negotiated a hybrid post-quantum group
	// (HybridGroup) when offered only those, over TLS 1.3.
	HybridPQ    bool       `json:"hybrid_pq"`
	HybridGroup string     `json:"hybrid_group,omitempty"`
	Chain       []certJSON `json:"chain"`
	// PinMatched, under SECUREPG_PIN_SHA256: a certificate of the chain
	// this look verified has a pinned key.
	PinMatched   *bool  `json:"pin_matched,omitempty"`
	ChainOK      bool   `json:"chain_verified"`
	HostOK       bool   `json:"hostname_verified"`
	Verification string `json:"verification"` // what the certificate supports: "none", "verify-ca", "verify-full"
	Error        string `json:"error,omitempty"`
	Roots        string `json:"roots"`

	verified    [][]*x509.Certificate // the chains the look verified
	version     uint16                // the look's negotiated TLS version
	curve       tls.CurveID           // the look's negotiated key-exchange group
	unreachable bool                  // no connection, or no answer to the SSLRequest
}

type certJSON struct {
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	SANs     []string `json:"sans"`
	NotAfter string   `json:"not_after"`
	DaysLeft int      `json:"days_left"`
	SHA256   string   `json:"sha256"`
	SPKI     string   `json:"spki_sha256"` // the key's pin: base64 SHA-256 of the SubjectPublicKeyInfo (SECUREPG_PIN_SHA256)
}

type policyResult struct {
	Outcome      string `json:"outcome"` // "allowed", "refused", "audited", "error"
	Reason       string `json:"reason,omitempty"`
	Error        string `json:"error,omitempty"`
	SSLMode      string `json:"sslmode,omitempty"`
	SSLModeFrom  string `json:"sslmode_from,omitempty"` // "policy": the configuration set none, the policy's minimum applied
	Verification string `json:"verification,omitempty"`
	Version      string `json:"tls_version,omitempty"`
	Cipher       string `json:"cipher,omitempty"`
	Group        string `json:"group,omitempty"`       // the key-exchange group of the connection made
	HybridPQ     bool   `json:"hybrid_pq"`             // Group is a hybrid post-quantum one
	AuthMethod   string `json:"auth_method,omitempty"` // scram-sha-256-plus, scram-sha-256, md5, password, cert, trust, ...
	Bound        bool   `json:"channel_binding"`       // the login was bound to the TLS channel
	// LoopbackPlaintext: below the minimum sslmode, to a loopback
	// address, let through by SECUREPG_ALLOW_LOOPBACK_PLAINTEXT.
	LoopbackPlaintext bool `json:"loopback_plaintext,omitempty"`
}

// serverView is pg_stat_ssl's row for the backend that answered. Behind a
// pooler (ViaPooler) that backend is the pooler's, and the row describes
// the pooler's connection to the server, not this client's.
type serverView struct {
	SSL           bool   `json:"ssl"`
	Version       string `json:"tls_version"`
	Cipher        string `json:"cipher"`
	Bits          int    `json:"bits"`
	ServerVersion string `json:"server_version"`
	ViaPooler     bool   `json:"via_pooler"`
}

type authReport struct {
	Method         string   `json:"method"`
	Mechanisms     []string `json:"sasl_mechanisms,omitempty"`
	ChannelBinding bool     `json:"channel_binding_offered"`
	Skipped        string   `json:"skipped,omitempty"`
	// Protection: what the password protection makes of this server:
	// "holds ...", "refuses the login ...", or what a password may go
	// through when it does not apply.
	Protection string `json:"password_protection,omitempty"`
}

type downgrade struct {
	AcceptsPlaintext bool   `json:"accepts_plaintext"`
	Detail           string `json:"detail"`
}

// probeBound is the documented bound of a whole probe (docs/cli.md: bounded by
// its context and 30 s), whatever the server does.
const probeBound = 30 * time.Second

// probe connects through the policy and reports what the connection is.
func (e *env) probe(ctx context.Context, args []string) int {
	var asJSON, downgradeTest bool
	var targets string
	var parallel int
	var timeout time.Duration
	if ok, code := e.flags("probe", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print a JSON report (with --targets: one JSON object per line)")
		fs.StringVar(&targets, "targets", "", "probe many targets: a file (or - for standard input) with one DSN or host:port per line")
		fs.IntVar(&parallel, "parallel", fleetParallel, "with --targets: how many targets are probed at once (at most 64)")
		fs.DurationVar(&timeout, "timeout", probeBound, "with --targets: the bound on each target's probe")
		fs.BoolVar(&downgradeTest, "downgrade-test", false, "also test whether the server accepts a plaintext session (sends a startup packet in plaintext)")
		e.driverFlag(fs)
	}); !ok {
		return code
	}
	if targets == "" && (parallel != fleetParallel || timeout != probeBound) {
		return e.fail(exitUsage, "probe: --parallel and --timeout apply only with --targets")
	}
	if targets != "" {
		if parallel < 1 || parallel > maxFleetParallel {
			return e.fail(exitUsage, "probe: --parallel %d: must be from 1 to %d", parallel, maxFleetParallel)
		}
		if timeout < time.Second || timeout > probeBound {
			return e.fail(exitUsage, "probe: --timeout %v: must be from 1s to %v", timeout, probeBound)
		}
		return e.fleet(ctx, targets, parallel, timeout, asJSON, downgradeTest)
	}
	dsn, p, b, plan, code := e.inputs("probe")
	if code != exitOK {
		return code
	}
	// One deadline for the whole probe: the TLS look, the authentication
	// question, the downgrade test and the connection through the policy
	// share it, so the probe keeps its documented bound.
	bound := cmp.Or(e.bound, probeBound)
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var r probeReport
	if v := outsideAllowList(plan, p); v != nil {
		// An allow-list is judged before any packet leaves, as sql.Open
		// and probe --targets judge it: no host outside it is looked at.
		r = probeReport{DSN: redactDSN(p.Driver, dsn), Driver: p.Driver,
			Policy: policyResult{Outcome: "refused", Reason: v.Reason, Error: safe(v.Error())}}
	} else {
		r = e.probeReport(ctx, dsn, p, b, plan, downgradeTest)
	}
	if expired(ctx) {
		fmt.Fprintf(e.stderr, "securepg probe: stopped at its bound of %v; what did not finish is reported as a timeout\n", bound)
	}
	switch r.Policy.Outcome {
	case "refused":
		code = exitRefused
	case "error":
		code = exitError
	}
	if asJSON {
		e.writeJSON(r)
	} else {
		e.printProbe(r)
	}
	return code
}

// probeReport looks at the plan's first TCP target (its TLS, its
// authentication, the downgrade test) and connects through the policy.
func (e *env) probeReport(ctx context.Context, dsn string, p core.Policy, b core.Backend, plan core.Plan, downgradeTest bool) probeReport {
	r := probeReport{DSN: redactDSN(p.Driver, dsn), Driver: p.Driver}
	target, index := firstTCPTarget(plan)
	lookRefused := false // verified, but the look's handshake fails the policy's other demands
	if target != nil {
		r.Server = safe(target.Addr())
		dial, conn := lookTLS(ctx, &r, p, b, target, index)
		if conn != nil {
			lookRefused = e.askAuth(ctx, &r, conn, p, plan, target)
			conn.Close()
		}
		if downgradeTest {
			r.Downgrade = e.testDowngrade(ctx, &r, dial, p, plan, target)
		}
	}
	if e.verifiedOnly && (target == nil || r.Auth == nil || r.Auth.Skipped != "" && !lookRefused) {
		// probe --targets sends no user name to a server whose
		// certificate fails the verification the DSN or the policy asks
		// for (nor to one it could not look at).
		r.Policy = policyResult{Outcome: "not_attempted", Error: notAttempted(r.TLS)}
		return r
	}
	var held []securepg.Option
	if e.verifiedOnly && !lookRefused {
		var ok bool
		if held, ok = holdToVerified(&r, p, plan, target); !ok {
			return r
		}
	}
	r.Policy, r.View, r.Role = e.policyConnect(ctx, dsn, held...)
	if p.Audit && len(held) > 0 && r.Policy.Outcome == "refused" && auditable(r.Policy.Reason) {
		r.Policy.Outcome = "audited"
	}
	if target != nil && r.Policy.SSLMode != "" {
		r.Policy.SSLModeFrom = target.ModeFrom
	}
	return r
}

// firstTCPTarget is the plan's first TCP target, which the probe looks
// at, and its index; nil when the plan has none.
func firstTCPTarget(plan core.Plan) (*core.Target, int) {
	for i := range plan.Targets {
		if plan.Targets[i].Network == "tcp" {
			return &plan.Targets[i], i
		}
	}
	return nil, 0
}

// lookTLS is the probe's own look at target's TLS, into r.TLS, with the
// roots and the name the driver would verify. It returns the address it
// dialled and the look's connection (nil when there is none, to be
// closed by the caller).
func lookTLS(ctx context.Context, r *probeReport, p core.Policy, b core.Backend, target *core.Target, index int) (string, net.Conn) {
	dial := target.Addr()
	if target.Hostaddr != "" {
		dial = net.JoinHostPort(target.Hostaddr, strconv.Itoa(int(target.Port)))
	}
	// The roots and the name a connection would verify with: exactly
	// the driver's, as securepg prepared them.
	roots, name, _, err := core.ServerAuth(b, index)
	rootsDesc := safe(target.RootCA)
	switch {
	case err != nil:
		r.TLS = &tlsReport{Chain: []certJSON{}, Verification: "none", Error: safe(err.Error())}
	case rootsDesc == "":
		rootsDesc = "system"
	}
	if name == "" {
		name = target.Host
	}
	var conn net.Conn
	if r.TLS == nil {
		r.TLS, conn = rawTLS(ctx, dial, name, roots, rootsDesc, core.DialControl(p, *target))
		if pins, err := p.CurrentPins(ctx); len(pins) > 0 || err != nil {
			r.TLS.PinMatched = new(len(r.TLS.verified) > 0 && pins.Match(r.TLS.verified))
		}
		if r.TLS.Offered && r.TLS.Version != "" {
			hybridTLS(ctx, r.TLS, dial, name, core.DialControl(p, *target))
		}
	}
	return dial, conn
}

// askAuth asks the server, over the look's connection, for its
// authentication method (into r.Auth), or says why it did not ask. It
// reports whether the look was verified but its handshake fails the
// policy's other demands.
func (e *env) askAuth(ctx context.Context, r *probeReport, conn net.Conn, p core.Policy, plan core.Plan, target *core.Target) (lookRefused bool) {
	// Ask for the authentication method only from a server that
	// passed the verification the policy demands, and the one the
	// DSN itself demands: the startup message names the user and
	// the database.
	achieved := map[string]core.Verification{"verify-full": core.VerifyFull, "verify-ca": core.VerifyCA}[r.TLS.Verification]
	// probe --targets asks only a server verified in full,
	// whatever the policy and the DSN accept.
	verified := achieved >= max(p.MinSSLMode.Required(), target.Verify()) && (!e.verifiedOnly || achieved == core.VerifyFull)
	switch {
	case verified && lookPasses(ctx, p, *target, r.TLS):
		r.Auth = authMethods(conn, plan.User, plan.Database)
		r.Auth.Protection = protection(core.PasswordRule(plan, p, *target), r.Auth)
	case verified:
		// The connection through the policy says which (and is
		// refused before its startup message).
		lookRefused = true
		r.Auth = &authReport{Skipped: "the handshake fails the policy (its pins, key exchange or TLS version): the user and database names are not sent"}
	default:
		r.Auth = &authReport{Skipped: "the server's certificate fails the verification the DSN or the policy asks for: the user and database names are not sent"}
	}
	return lookRefused
}

// testDowngrade is the downgrade test: whether the server at dial accepts
// a plaintext session; under probe --targets, not run when the server
// was not verified.
func (e *env) testDowngrade(ctx context.Context, r *probeReport, dial string, p core.Policy, plan core.Plan, target *core.Target) *downgrade {
	if e.verifiedOnly && (r.Auth == nil || r.Auth.Skipped != "") {
		// probe --targets names the user to no server it did not
		// verify, not even in the downgrade test's plaintext startup.
		return &downgrade{Detail: "not tested: the server's certificate was not verified (chain and host name): no user name was sent"}
	}
	if !e.verifiedOnly { // probe --targets warned once
		fmt.Fprintln(e.stderr, "securepg probe: WARNING: the downgrade test sends a startup packet (user and database names) to the server in plaintext")
	}
	return plaintextTest(ctx, dial, plan.User, plan.Database, core.DialControl(p, *target))
}

// holdToVerified is probe --targets' hold of the connection through the
// policy to the server its look verified in full; false (with r.Policy
// saying why) when no hold can apply and the connection is not attempted.
func holdToVerified(r *probeReport, p core.Policy, plan core.Plan, target *core.Target) ([]securepg.Option, bool) {
	// The connection through the policy is a second handshake: probe
	// --targets holds it to the server its look verified in full, by
	// that server's key, so that another certificate (the same CA's
	// for another name, a later host of the list) hears nothing. (The
	// look's key passed the policy's own pins; a look the policy
	// refuses leaves them, and the connection is refused for them.)
	if target.Verify() < core.VerifyCA {
		r.Policy = policyResult{Outcome: "not_attempted", Error: "the connection through the policy (sslmode=" + target.Mode.String() +
			") would verify no certificate, so it could reach another server than the one verified: no user name was sent"}
		return nil, false
	}
	for _, t := range plan.Targets {
		if t.Network != "tcp" {
			// A socket shows no certificate: the hold to the key
			// cannot apply to it, and it is tried in its turn.
			r.Policy = policyResult{Outcome: "not_attempted", Error: "the connection through the policy may go through the unix socket " +
				safe(t.Addr()) + ", which shows no certificate: no user name was sent"}
			return nil, false
		}
	}
	held := []securepg.Option{securepg.WithPinSHA256File(""), securepg.WithPinSHA256(r.TLS.Chain[0].SPKI)}
	if p.Audit {
		// Audit mode lets a pin mismatch through: the hold would not
		// hold. The connection is made in enforce mode; a refusal
		// audit mode would have let through is reported as audited.
		held = append(held, securepg.WithMode("enforce"))
	}
	return held, true
}

// auditable: a refusal of this reason is one audit mode lets through
// (the failures of the verification the DSN demands, and the fleet's own
// hold to the verified key, are refused in audit mode too).
func auditable(reason string) bool {
	switch reason {
	case core.ReasonPinMismatch, core.ReasonCertificateUntrusted, core.ReasonCertificateExpired, core.ReasonHostnameMismatch, core.ReasonNoHostName:
		return false
	}
	return true
}

// notAttempted says why probe --targets sent no user name: what the TLS
// look found (the target unreachable, TLS refused, the certificate
// failing verification), never only that it was not verified.
func notAttempted(t *tlsReport) string {
	const none = "no user name was sent"
	switch {
	case t == nil:
		return "no TCP host to probe: " + none
	case t.unreachable:
		return "unreachable: " + t.Error
	case t.Error != "":
		return t.Error + ": " + none
	}
	return "the server's certificate was not verified in full (chain and host name): " + none
}

// lookPasses: the look's own handshake meets the rest of the policy
// before its startup message names the user and the database: a pinned
// key in the chain it verified, a hybrid group under hybrid-pq, and the
// minimum TLS version. In audit mode these are reported, not refused, as
// the connection through the policy would.
func lookPasses(ctx context.Context, p core.Policy, t core.Target, r *tlsReport) bool {
	if p.Audit {
		return true
	}
	pins, err := p.CurrentPins(ctx)
	return err == nil && (len(pins) == 0 || pins.Match(r.verified)) &&
		(p.KeyExchange != core.KeyExchangeHybridPQ || core.IsHybridPQ(r.curve)) &&
		r.version >= max(p.MinTLSVersion, t.MinTLS)
}

// errorText is err as the report shows it. When the probe's bound ran
// out, it says so even where the error does not: a dial cut short by the
// deadline reports only "i/o timeout".
func errorText(ctx context.Context, err error) string {
	text := err.Error()
	if expired(ctx) && !strings.Contains(text, context.DeadlineExceeded.Error()) {
		text += " (" + context.DeadlineExceeded.Error() + ")"
	}
	return safe(text)
}

// expired says whether ctx's deadline has passed. A dial's own deadline
// can fire before the context's timer does: judge by the clock too, not
// only by ctx.Err.
func expired(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !time.Now().Before(deadline)
}
