package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/dsn"
)

// checkReport is check's --json output. Its shape is stable. Every string
// that came from the DSN or the environment is escaped (SafeText).
type checkReport struct {
	DSN        string        `json:"dsn"` // redacted, as the driver reads it
	Driver     string        `json:"driver"`
	Policy     policyReport  `json:"policy"`
	Targets    []targetJSON  `json:"targets"`
	Connect    connectJSON   `json:"connect"`
	Verdict    string        `json:"verdict"` // "allowed", "refused", "audited"
	Violations []violationJS `json:"violations"`
	// Problems: what will fail every connection without being a policy
	// violation (a SECUREPG_PASSWORD_FILE no connection can read).
	Problems []string `json:"problems,omitempty"`
	// Notes: keys of the DSN the driver does not know but that are one or
	// two letters from a keyword it does (sslrootcrt): the driver sends
	// them to the server as run-time parameters, and the setting meant is
	// not made.
	Notes []string `json:"notes,omitempty"`
}

// connectJSON is what every connection of the DSN gets: the bound on each
// connect and the name the server shows, and who set each.
type connectJSON struct {
	Timeout         string `json:"timeout"` // "0s": wait forever
	TimeoutSource   string `json:"timeout_source"`
	AppName         string `json:"application_name"` // "": none set, the service's executable name is sent
	AppNameSource   string `json:"application_name_source"`
	NetworksAllowed string `json:"allowed_networks,omitempty"`
}

type targetJSON struct {
	Host          string        `json:"host"`
	Hostaddr      string        `json:"hostaddr,omitempty"`
	Port          int           `json:"port"`
	Network       string        `json:"network"`
	SSLMode       string        `json:"sslmode"`
	SSLModeSource string        `json:"sslmode_source"`
	HostSource    string        `json:"host_source"`
	Attempts      []attemptJSON `json:"attempts"`
	RootCA        string        `json:"root_ca"`
	RootCASource  string        `json:"root_ca_source"`
	ClientCert    string        `json:"client_cert"`
	MinTLS        string        `json:"min_tls"`
	MinTLSSource  string        `json:"min_tls_source"`
	Password      string        `json:"password"` // what a password may go through: "SCRAM-SHA-256-PLUS only", "any (...)", "none (...)"
	// LoopbackPlaintext: the sslmode is below the minimum, permitted by
	// SECUREPG_ALLOW_LOOPBACK_PLAINTEXT only to loopback addresses
	// (judged on each address dialed).
	LoopbackPlaintext bool `json:"loopback_plaintext,omitempty"`
}

type attemptJSON struct {
	TLS    bool   `json:"tls"`
	Verify string `json:"verify,omitempty"`
}

type violationJS struct {
	Reason string `json:"reason"`
	Host   string `json:"host"`
	Got    string `json:"got"`
	Want   string `json:"want"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// safe escapes what came from a DSN, a file or a peer.
func safe(s string) string { return core.SafeText(s) }

// check judges a DSN offline, exactly as sql.Open("securepg", dsn) would:
// the same policy from the environment, the same bytes, the same entry
// point (core.Prepare) and the same decision (core.JudgePlan). Nothing is
// dialed.
func (e *env) check(_ context.Context, args []string) int {
	var asJSON bool
	if ok, code := e.flags("check", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print a JSON report")
		e.driverFlag(fs)
	}); !ok {
		return code
	}
	dsnText, p, _, plan, code := e.inputs("check")
	if code != exitOK {
		return code
	}
	refusal, _, vs := core.JudgePlan(plan, p)
	r := checkReport{DSN: redactDSN(p.Driver, dsnText), Driver: p.Driver, Policy: newPolicyReport(p), Verdict: "allowed", Violations: []violationJS{}}
	r.Connect = connectJSON{Timeout: plan.ConnectTimeout.String(), TimeoutSource: safe(plan.ConnectTimeoutSource),
		AppName: safe(plan.AppName), AppNameSource: safe(plan.AppNameSource), NetworksAllowed: safe(p.AllowedNetworks.String())}
	if plan.AppNameSource == core.SourceExecutable {
		// What the service will send is its own executable's name, which
		// check (another executable) cannot know: show the rule, not "securepg".
		r.Connect.AppName = ""
	}
	sources := core.Sources(p.Driver, dsnText, os.LookupEnv)
	for _, t := range plan.Targets {
		tj := targetReport(t, sources, p)
		tj.Password = core.PasswordRule(plan, p, t)
		tj.LoopbackPlaintext = core.LoopbackPermit(p, t)
		r.Targets = append(r.Targets, tj)
	}
	for _, v := range vs {
		r.Violations = append(r.Violations, violationJS{v.Reason, safe(v.Host), safe(v.Got), safe(v.Want), safe(v.Detail), safe(v.Fix)})
	}
	switch {
	case refusal != nil:
		r.Verdict, code = "refused", exitRefused
	case len(vs) > 0:
		r.Verdict = "audited"
	}
	for _, pr := range dsn.Read(p.Driver, dsnText).Pairs {
		if kw := dsn.NearKeyword(pr.Key); kw != "" {
			r.Notes = append(r.Notes, "the key "+safe(pr.Key)+" is not one the driver knows: it is sent to the server as a run-time parameter, and "+kw+" is not set; did you mean "+kw+"?")
		}
	}
	if msg := passwordFileProblem(p); msg != "" {
		r.Problems = append(r.Problems, msg)
		if code == exitOK {
			code = exitError
		}
	}
	if asJSON {
		e.writeJSON(r)
		return code
	}
	e.printCheck(r)
	return code
}

// inputs reads what check and probe judge: the DSN, the policy from the
// environment, and the plan of the policy's driver, through the same entry
// point as sql.Open.
func (e *env) inputs(cmd string) (string, core.Policy, core.Backend, core.Plan, int) {
	dsn, fromStdin, err := e.readDSN()
	if err != nil {
		return "", core.Policy{}, nil, core.Plan{}, e.fail(exitUsage, "%s: %v", cmd, err)
	}
	p, err := e.policyFromEnv()
	if err != nil {
		return "", core.Policy{}, nil, core.Plan{}, e.fail(exitUsage, "%v", strings.TrimPrefix(err.Error(), "securepg: "))
	}
	backend, err := e.backend()
	if err != nil {
		return "", core.Policy{}, nil, core.Plan{}, e.fail(exitUsage, "%s: %v", cmd, err)
	}
	p.Driver = backend
	b, plan, err := prepare(dsn, p)
	if err != nil {
		code := e.fail(exitUsage, "%v", strings.TrimPrefix(err.Error(), "securepg: ")) // an invalid DSN is a configuration error
		if fromStdin && strings.HasSuffix(dsn, "\n") {
			fmt.Fprintln(e.stderr, "securepg: note: the DSN on standard input ends with a newline, which was judged as part of it, as sql.Open would; pipe it without one (printf, not echo) if your program does not have it")
		}
		return "", core.Policy{}, nil, core.Plan{}, code
	}
	return dsn, p, b, plan, exitOK
}

func targetReport(t core.Target, sources map[string]core.Source, p core.Policy) targetJSON {
	tj := targetJSON{Host: safe(t.Host), Hostaddr: safe(t.Hostaddr), Port: int(t.Port), Network: t.Network, SSLMode: t.Mode.String(),
		SSLModeSource: safe(sources["sslmode"].Origin), HostSource: safe(sources["host"].Origin), RootCA: safe(t.RootCA),
		ClientCert: safe(t.ClientCert), MinTLS: tlsShort(t.MinTLS), MinTLSSource: p.Sources[core.EnvMinTLSVersion],
		Attempts: []attemptJSON{}}
	switch t.ModeFrom {
	case core.ModeFromPolicy:
		tj.SSLModeSource = "the policy's minimum: the configuration set none"
	case core.ModeFromDriver:
		tj.SSLModeSource = "the driver's default: no roots named to apply the policy's with"
	}
	if t.Custom {
		tj.SSLMode = "custom (pqgo-*)"
	}
	if written := sources["sslmode"].Value; written != "" && written != tj.SSLMode && !t.Custom && t.ModeFrom == "" {
		// require with root certificates verifies the chain, as libpq
		// does: say what was written, and what it amounts to.
		tj.SSLModeSource += ": sslmode=" + safe(written) + ", with root certificates"
	}
	if t.MinTLS > p.MinTLSVersion {
		tj.MinTLSSource = "DSN (ssl_min_protocol_version)"
	}
	if p.OffersOnlyHybrid() && t.MinTLS < tls.VersionTLS13 {
		// Hybrid groups only: the client offers TLS 1.3 alone.
		tj.MinTLS, tj.MinTLSSource = tlsShort(tls.VersionTLS13), core.EnvTLSKeyExchange+"=hybrid-pq"
	}
	switch {
	case t.RootCA == "":
		tj.RootCASource = "none"
	case t.RootFromPolicy:
		tj.RootCASource = p.Sources[core.EnvSSLRootCert]
	case sources["sslrootcert"].Origin != "default":
		tj.RootCASource = safe(sources["sslrootcert"].Origin)
		if t.RootCA == "sslrootcert" {
			tj.RootCA = safe(sources["sslrootcert"].Value)
		}
	default:
		tj.RootCASource = "default"
	}
	if t.CertFromPolicy {
		tj.ClientCert += " (" + p.Sources[core.EnvSSLCert] + ")"
	}
	if t.Network == "unix" {
		tj.SSLMode = "none (unix socket)"
	}
	for _, a := range t.Attempts {
		aj := attemptJSON{TLS: a.TLS}
		if a.TLS {
			aj.Verify = a.Verify.String()
		}
		tj.Attempts = append(tj.Attempts, aj)
	}
	if !slices.ContainsFunc(t.Attempts, func(a core.Attempt) bool { return a.TLS }) {
		tj.MinTLS, tj.MinTLSSource = "none", "no TLS attempt"
	}
	return tj
}

func tlsShort(v uint16) string {
	if v == 0 {
		return "none"
	}
	return strings.TrimPrefix(core.TLSVersionName(v), "TLSv")
}

func describeAttempts(as []attemptJSON) string {
	var parts []string
	for _, a := range as {
		if a.TLS {
			parts = append(parts, "TLS ("+a.Verify+")")
		} else {
			parts = append(parts, "plaintext")
		}
	}
	return strings.Join(parts, ", then ")
}

func (e *env) printCheck(r checkReport) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%s\t%s\n", e.bold("DSN"), r.DSN)
	fmt.Fprintf(w, "driver\t%s\n", r.Driver)
	// The handshake's own demands, when set: a policy line without them
	// read as a weaker policy than the one enforced.
	var extra string
	if r.Policy.TLSKeyExchange != core.KeyExchangeAny.String() {
		extra += ", key exchange " + r.Policy.TLSKeyExchange + " (TLS 1.3 only)"
	}
	if n := len(r.Policy.PinSHA256); n > 0 {
		extra += ", " + strconv.Itoa(n) + " pinned key(s)"
	}
	protection := map[string]string{"false": "on (channel binding)", "scram": "scram (SCRAM without channel binding accepted)", "true": "off"}[r.Policy.AllowUnverifiedPw]
	if r.Driver == core.DriverPQ && r.Policy.AllowUnverifiedPw == "false" {
		protection = "on (lib/pq cannot bind: no password to an unverified server)"
	}
	if m, err := core.ParseSSLMode(r.Policy.MinSSLMode); err == nil && !m.NeedsTLS() {
		protection = "off (the policy accepts plaintext)"
	}
	fmt.Fprintf(w, "policy\tmin sslmode %s, min TLS %s, mode %s, unix sockets %s, password protection %s%s\n", r.Policy.MinSSLMode, r.Policy.MinTLSVersion,
		r.Policy.Mode, map[bool]string{true: "allowed", false: "refused"}[r.Policy.AllowUnixSocket], protection, extra)
	timeout := r.Connect.Timeout
	if timeout == "0s" {
		timeout = "none (waits forever)"
	}
	fmt.Fprintf(w, "connect timeout\t%s (%s)\n", timeout, r.Connect.TimeoutSource)
	if r.Connect.AppNameSource == core.SourceExecutable {
		fmt.Fprintf(w, "application_name\tnone set: the service's executable name (or set application_name, PGAPPNAME or %s)\n", core.EnvAppName)
	} else {
		fmt.Fprintf(w, "application_name\t%s (%s)\n", r.Connect.AppName, r.Connect.AppNameSource)
	}
	if r.Connect.NetworksAllowed != "" {
		fmt.Fprintf(w, "allowed networks\t%s (checked on each address dialed)\n", r.Connect.NetworksAllowed)
	}
	w.Flush()
	fmt.Fprintln(e.stdout)
	w = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tHOST\tSSLMODE\tATTEMPTS\tROOT CA\tCLIENT CERT\tMIN TLS\tPASSWORD")
	for i, t := range r.Targets {
		addr := t.Host
		if addr == "" {
			addr = t.Hostaddr
		}
		if t.Network == "tcp" {
			addr += ":" + strconv.Itoa(t.Port)
		}
		cert := t.ClientCert
		if cert == "" {
			cert = "none"
		}
		root := t.RootCA
		if root == "" {
			root = "none"
		}
		if t.LoopbackPlaintext {
			t.SSLMode += ", loopback addresses only"
		}
		fmt.Fprintf(w, "%d\t%s (%s)\t%s (%s)\t%s\t%s (%s)\t%s\t%s (%s)\t%s\n", i+1, addr, t.HostSource, t.SSLMode, t.SSLModeSource,
			describeAttempts(t.Attempts), root, t.RootCASource, cert, t.MinTLS, t.MinTLSSource, t.Password)
	}
	w.Flush()
	fmt.Fprintln(e.stdout)
	switch r.Verdict {
	case "allowed":
		fmt.Fprintln(e.stdout, e.green("ALLOWED")+": every attempt meets the policy")
	case "audited":
		fmt.Fprintln(e.stdout, e.bold("AUDITED")+": violations are reported, and the connection is made (SECUREPG_MODE=audit)")
	default:
		fmt.Fprintln(e.stdout, e.red("REFUSED")+": sql.Open(\""+e.driverName+"\", ...) returns a *securepg.PolicyError; nothing is dialed")
	}
	for _, v := range r.Violations {
		fmt.Fprintf(e.stdout, "  - [%s] %s: %s\n    fix: %s\n", v.Reason, v.Host, v.Detail, v.Fix)
	}
	for _, msg := range r.Problems {
		fmt.Fprintf(e.stdout, "%s: %s\n", e.red("CANNOT CONNECT"), msg)
	}
	for _, msg := range r.Notes {
		fmt.Fprintf(e.stdout, "%s: %s\n", e.bold("NOTE"), msg)
	}
}

// passwordFileProblem is why no connection could read the password from
// SECUREPG_PASSWORD_FILE (missing, not a regular file, too large, empty,
// unreadable), or "". Connections read it again each time: this says what
// a connection made now would meet.
func passwordFileProblem(p core.Policy) string {
	if p.PasswordFile == "" {
		return ""
	}
	b, err := core.ReadRegularFile(context.Background(), p.PasswordFile, core.MaxPasswordFileSize)
	if err == nil && strings.TrimRight(string(b), "\r\n") == "" {
		err = errors.New("the file is empty")
	}
	if err == nil {
		return ""
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return core.EnvPasswordFile + "=" + safe(p.PasswordFile) + ": cannot read the password: " + safe(err.Error())
}
