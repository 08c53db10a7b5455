package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/securepg/securepg/internal/core"
)

// policyReport is the effective policy, as JSON. Its shape is stable.
type policyReport struct {
	MinSSLMode        string   `json:"min_sslmode"`
	MinTLSVersion     string   `json:"min_tls_version"`
	RootCert          string   `json:"sslrootcert"`
	ClientCert        string   `json:"sslcert"`
	ClientKey         string   `json:"sslkey"`
	Mode              string   `json:"mode"`
	AllowUnixSocket   bool     `json:"allow_unix_socket"`
	PasswordFile      string   `json:"password_file"`
	ForbidDSNPassword bool     `json:"forbid_dsn_password"`
	AllowUnverifiedPw string   `json:"allow_unverified_password"`
	AllowedNetworks   string   `json:"allowed_networks"`
	AllowedHosts      string   `json:"allowed_hosts"`
	ForbidSuperuser   bool     `json:"forbid_superuser"`
	ConnectTimeout    string   `json:"connect_timeout"` // "0s": wait forever
	ApplicationName   string   `json:"application_name"`
	LoopbackPlaintext bool     `json:"allow_loopback_plaintext"`
	TLSKeyExchange    string   `json:"tls_key_exchange"`
	PinSHA256         []string `json:"pin_sha256"`
	PinSHA256File     string   `json:"pin_sha256_file"`
	OperationSpans    bool     `json:"operation_spans"`
	// Sources: where each variable's value came from, by variable: its
	// own name (the environment; the text output says "environment") or
	// "default".
	Sources map[string]string `json:"sources"`
}

func newPolicyReport(p core.Policy) policyReport {
	sources := make(map[string]string, len(core.EnvVars))
	for _, v := range core.EnvVars {
		sources[v] = p.Sources[v]
	}
	return policyReport{MinSSLMode: p.MinSSLMode.String(), MinTLSVersion: tlsShort(p.MinTLSVersion),
		RootCert: safe(p.RootCert), ClientCert: safe(p.ClientCert), ClientKey: safe(p.ClientKey), Mode: p.ModeName(),
		AllowUnixSocket: p.AllowUnixSocket, PasswordFile: safe(p.PasswordFile), ForbidDSNPassword: p.ForbidDSNPassword,
		AllowUnverifiedPw: p.UnverifiedPassword.String(), AllowedNetworks: safe(p.AllowedNetworks.String()),
		AllowedHosts: safe(p.AllowedHosts.String()), ForbidSuperuser: p.ForbidSuperuser,
		ConnectTimeout: p.ConnectTimeout.String(), ApplicationName: safe(p.ApplicationName), Sources: sources,
		LoopbackPlaintext: p.AllowLoopbackPlaintext, TLSKeyExchange: p.KeyExchange.String(),
		PinSHA256: pinList(p.Pins), PinSHA256File: safe(p.PinFile), OperationSpans: p.OperationSpans}
}

// policy prints the effective org policy and where each value comes from,
// and validates it: a bad value is an error naming its variable.
func (e *env) policy(args []string) int {
	var asJSON bool
	if ok, code := e.flags("policy", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}); !ok {
		return code
	}
	p, err := e.policyFromEnv()
	if err != nil {
		return e.fail(exitUsage, "%v", strings.TrimPrefix(err.Error(), "securepg: "))
	}
	r := newPolicyReport(p)
	if asJSON {
		e.writeJSON(r)
		return exitOK
	}
	// One row per setting of core.Settings, the one declaration of each.
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VARIABLE\tVALUE\tSOURCE")
	for _, st := range core.Settings {
		src := r.Sources[st.Env]
		if src == st.Env {
			src = "environment"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", st.Env, core.SafeText(st.Show(p)), src)
	}
	w.Flush()
	return exitOK
}

// pinList is the pins as securepg reads them, or nil.
func pinList(ps core.Pins) []string {
	if len(ps) == 0 {
		return []string{}
	}
	return strings.Split(ps.String(), ",")
}
