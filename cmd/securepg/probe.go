package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
)

// probeReport is probe's --json output. Its shape is stable.
type probeReport struct {
	DSN       string       `json:"dsn"` // redacted
	Driver    string       `json:"driver"`
	Server    string       `json:"server"`
	TLS       *tlsReport   `json:"tls"` // the client's own look at the server, nil if TLS was refused
	Policy    policyResult `json:"policy"`
	View      *serverView  `json:"server_view,omitempty"`
	Auth      *authReport  `json:"auth,omitempty"`
	Downgrade *downgrade   `json:"downgrade,omitempty"`
}

type tlsReport struct {
	Offered      bool       `json:"offered"`
	Version      string     `json:"version,omitempty"`
	Cipher       string     `json:"cipher,omitempty"`
	Chain        []certJSON `json:"chain"`
	ChainOK      bool       `json:"chain_verified"`
	HostOK       bool       `json:"hostname_verified"`
	Verification string     `json:"verification"` // what the certificate supports: "none", "verify-ca", "verify-full"
	Error        string     `json:"error,omitempty"`
	Roots        string     `json:"roots"`
}

type certJSON struct {
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	SANs     []string `json:"sans"`
	NotAfter string   `json:"not_after"`
	DaysLeft int      `json:"days_left"`
	SHA256   string   `json:"sha256"`
}

type policyResult struct {
	Outcome      string `json:"outcome"` // "allowed", "refused", "audited", "error"
	Reason       string `json:"reason,omitempty"`
	Error        string `json:"error,omitempty"`
	SSLMode      string `json:"sslmode,omitempty"`
	Verification string `json:"verification,omitempty"`
	Version      string `json:"tls_version,omitempty"`
	Cipher       string `json:"cipher,omitempty"`
}

type serverView struct {
	SSL           bool   `json:"ssl"`
	Version       string `json:"tls_version"`
	Cipher        string `json:"cipher"`
	Bits          int    `json:"bits"`
	ServerVersion string `json:"server_version"`
}

type authReport struct {
	Method         string   `json:"method"`
	Mechanisms     []string `json:"sasl_mechanisms,omitempty"`
	ChannelBinding bool     `json:"channel_binding_offered"`
	Skipped        string   `json:"skipped,omitempty"`
}

type downgrade struct {
	AcceptsPlaintext bool   `json:"accepts_plaintext"`
	Detail           string `json:"detail"`
}

// probe connects through the policy and reports what the connection is.
func (e *env) probe(ctx context.Context, args []string) int {
	var asJSON, downgradeTest bool
	if ok, code := e.flags("probe", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print a JSON report")
		fs.BoolVar(&downgradeTest, "downgrade-test", false, "also test whether the server accepts a plaintext session (sends a startup packet in plaintext)")
	}); !ok {
		return code
	}
	dsn, p, plan, code := e.inputs("probe")
	if code != exitOK {
		return code
	}
	r := e.probeReport(ctx, dsn, p, plan, downgradeTest)
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

func (e *env) probeReport(ctx context.Context, dsn string, p core.Policy, plan core.Plan, downgradeTest bool) probeReport {
	r := probeReport{DSN: core.RedactDSN(p.Driver, dsn), Driver: p.Driver}
	var target *core.Target
	for i := range plan.Targets {
		if plan.Targets[i].Network == "tcp" {
			target = &plan.Targets[i]
			break
		}
	}
	if target != nil {
		r.Server = target.Addr()
		dial := target.Addr()
		if target.Hostaddr != "" {
			dial = net.JoinHostPort(target.Hostaddr, strconv.Itoa(int(target.Port)))
		}
		roots, rootsDesc := probeRoots(dsn, p)
		var conn net.Conn
		r.TLS, conn = rawTLS(ctx, dial, target.Host, roots, rootsDesc)
		if conn != nil {
			// Ask for the authentication method only from a server whose
			// certificate the policy would accept: the startup message names
			// the user and the database.
			achieved := map[string]core.Verification{"verify-full": core.VerifyFull, "verify-ca": core.VerifyCA}[r.TLS.Verification]
			if achieved >= p.MinSSLMode.Required() {
				r.Auth = authMethods(conn, plan.User, plan.Database)
			} else {
				r.Auth = &authReport{Skipped: "the server's certificate fails verification: the user and database names are not sent"}
			}
			conn.Close()
		}
		if downgradeTest {
			fmt.Fprintln(e.stderr, "securepg probe: WARNING: the downgrade test sends a startup packet (user and database names) to the server in plaintext")
			r.Downgrade = plaintextTest(ctx, dial, plan.User, plan.Database)
		}
	}
	r.Policy, r.View = e.policyConnect(ctx, dsn)
	return r
}

// policyConnect opens one connection through securepg, as an application
// would, and reads the server's own view of it.
func (e *env) policyConnect(ctx context.Context, dsn string) (policyResult, *serverView) {
	var info hooks.ConnInfo
	var audited []string
	c, err := securepg.NewConnector(dsn, securepg.WithLogger(slog.New(slog.DiscardHandler)), securepg.WithHooks(hooks.Hooks{
		AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; return nil },
		OnViolation: func(_ context.Context, v hooks.Violation) {
			if v.Outcome == "audited" {
				audited = append(audited, v.Reason)
			}
		},
	}))
	if res, refused := policyError(err); refused {
		return res, nil
	}
	if err != nil {
		return policyResult{Outcome: "error", Error: err.Error()}, nil
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if res, refused := policyError(err); refused {
		return res, nil
	}
	if err != nil {
		return policyResult{Outcome: "error", Error: err.Error()}, nil
	}
	defer conn.Close()
	res := policyResult{Outcome: "allowed", SSLMode: info.SSLMode, Verification: info.Verification}
	if len(audited) > 0 {
		res.Outcome, res.Reason = "audited", audited[0]
	}
	if info.TLS {
		res.Version, res.Cipher = core.TLSVersionName(info.Version), tls.CipherSuiteName(info.CipherSuite)
	}
	v := &serverView{}
	var version, cipher sql.NullString
	var bits sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&v.SSL, &version, &cipher, &bits); err == nil {
		v.Version, v.Cipher, v.Bits = version.String, cipher.String, int(bits.Int64)
	}
	conn.QueryRowContext(ctx, "SHOW server_version").Scan(&v.ServerVersion)
	return res, v
}

func policyError(err error) (policyResult, bool) {
	var pe *securepg.PolicyError
	if errors.As(err, &pe) {
		return policyResult{Outcome: "refused", Reason: pe.Reason, Error: pe.Error()}, true
	}
	return policyResult{}, false
}

// probeRoots are the roots a verification of the server uses: the DSN's
// (or PGSSLROOTCERT's) sslrootcert, else the org's, else the system's.
func probeRoots(dsn string, p core.Policy) (*x509.CertPool, string) {
	src := core.Sources(p.Driver, dsn, os.LookupEnv)["sslrootcert"]
	path := src.Value
	if src.Origin == "default" {
		if home, err := os.UserHomeDir(); err == nil {
			if _, err := os.Stat(home + "/.postgresql/root.crt"); err == nil {
				path = home + "/.postgresql/root.crt"
			}
		}
	}
	if path != "" && path != "system" {
		if pem, err := os.ReadFile(path); err == nil {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				return pool, path + " (" + src.Origin + ")"
			}
		}
	}
	if p.Roots() != nil {
		return p.Roots(), p.RootCert + " (" + p.Sources[core.EnvSSLRootCert] + ")"
	}
	return nil, "system"
}

var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// rawTLS asks the server for TLS and completes a handshake that accepts
// any certificate, to show what the server presents; it then verifies the
// chain and the host name itself. On success the TLS connection is
// returned for the authentication check.
func rawTLS(ctx context.Context, addr, host string, roots *x509.CertPool, rootsDesc string) (*tlsReport, net.Conn) {
	r := &tlsReport{Chain: []certJSON{}, Verification: "none", Roots: rootsDesc}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(sslRequest); err != nil {
		c.Close()
		r.Error = err.Error()
		return r, nil
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		c.Close()
		r.Error = err.Error()
		return r, nil
	}
	if b[0] != 'S' {
		c.Close()
		r.Error = "the server (or something in between) refused TLS"
		return r, nil
	}
	r.Offered = true
	cfg := &tls.Config{InsecureSkipVerify: true} // verified below, and only reported
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		r.Error = "TLS handshake: " + err.Error()
		return r, nil
	}
	cs := tc.ConnectionState()
	r.Version, r.Cipher = core.TLSVersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
	for _, cert := range cs.PeerCertificates {
		sum := sha256.Sum256(cert.Raw)
		sans := append([]string{}, cert.DNSNames...)
		for _, ip := range cert.IPAddresses {
			sans = append(sans, ip.String())
		}
		r.Chain = append(r.Chain, certJSON{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), SANs: sans,
			NotAfter: cert.NotAfter.UTC().Format(time.RFC3339), DaysLeft: int(time.Until(cert.NotAfter).Hours() / 24),
			SHA256: strings.ToUpper(hex.EncodeToString(sum[:]))})
	}
	if len(cs.PeerCertificates) > 0 {
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			v := core.CertificateViolation(addr, err)
			r.Error = v.Reason + ": " + err.Error()
		} else {
			r.ChainOK, r.Verification = true, "verify-ca"
			if err := cs.PeerCertificates[0].VerifyHostname(host); err != nil {
				r.Error = core.ReasonHostnameMismatch + ": " + err.Error()
			} else {
				r.HostOK, r.Verification = true, "verify-full"
			}
		}
	}
	return r, tc
}

// startupMessage is a protocol 3.0 StartupMessage.
func startupMessage(user, database string) []byte {
	body := []byte{0, 3, 0, 0}
	for _, kv := range [][2]string{{"user", user}, {"database", database}} {
		if kv[1] != "" {
			body = append(append(append(append(body, kv[0]...), 0), kv[1]...), 0)
		}
	}
	body = append(body, 0)
	msg := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(msg, uint32(4+len(body)))
	return append(msg, body...)
}

// firstReply sends a StartupMessage and reads the server's first message,
// never sending a password.
func firstReply(c net.Conn, user, database string) (typ byte, body []byte, err error) {
	if _, err := c.Write(startupMessage(user, database)); err != nil {
		return 0, nil, err
	}
	head := make([]byte, 5)
	if _, err := io.ReadFull(c, head); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(head[1:]))
	if n < 4 || n > 1<<16 {
		return 0, nil, errors.New("not a PostgreSQL server")
	}
	body = make([]byte, n-4)
	_, err = io.ReadFull(c, body)
	return head[0], body, err
}

var authMethodNames = map[uint32]string{0: "trust (no password)", 2: "kerberos", 3: "cleartext password", 5: "md5", 7: "gss", 9: "sspi", 10: "SASL"}

// authMethods reads which authentication the server asks for.
func authMethods(c net.Conn, user, database string) *authReport {
	typ, body, err := firstReply(c, user, database)
	c.Write([]byte{'X', 0, 0, 0, 4}) // Terminate
	if err != nil {
		return &authReport{Skipped: err.Error()}
	}
	return describeAuth(typ, body)
}

func describeAuth(typ byte, body []byte) *authReport {
	switch {
	case typ == 'E':
		return &authReport{Method: "refused: " + errorMessage(body)}
	case typ != 'R' || len(body) < 4:
		return &authReport{Method: fmt.Sprintf("unexpected message %q", typ)}
	}
	code := binary.BigEndian.Uint32(body)
	a := &authReport{Method: authMethodNames[code]}
	if a.Method == "" {
		a.Method = fmt.Sprintf("method %d", code)
	}
	if code == 10 {
		for _, m := range strings.Split(string(body[4:]), "\x00") {
			if m != "" {
				a.Mechanisms = append(a.Mechanisms, m)
				a.ChannelBinding = a.ChannelBinding || m == "SCRAM-SHA-256-PLUS"
			}
		}
	}
	return a
}

// errorMessage extracts the M field of an ErrorResponse.
func errorMessage(body []byte) string {
	for _, f := range strings.Split(string(body), "\x00") {
		if strings.HasPrefix(f, "M") {
			return f[1:]
		}
	}
	return "error"
}

// plaintextTest sends a StartupMessage without asking for TLS.
func plaintextTest(ctx context.Context, addr, user, database string) *downgrade {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return &downgrade{Detail: "could not connect: " + err.Error()}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	typ, body, err := firstReply(c, user, database)
	c.Write([]byte{'X', 0, 0, 0, 4})
	switch {
	case err != nil:
		return &downgrade{Detail: "no answer: " + err.Error()}
	case typ == 'E':
		return &downgrade{Detail: "refused: " + errorMessage(body)}
	case typ == 'R':
		return &downgrade{AcceptsPlaintext: true, Detail: "the server answered a plaintext startup with " + describeAuth(typ, body).Method +
			": it would accept an unencrypted session (add hostssl-only rules to pg_hba.conf)"}
	}
	return &downgrade{Detail: fmt.Sprintf("unexpected message %q", typ)}
}

func (e *env) printProbe(r probeReport) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%s\t%s (driver %s)\n", e.bold("DSN"), r.DSN, r.Driver)
	fmt.Fprintf(w, "server\t%s\n", r.Server)
	if t := r.TLS; t != nil {
		switch {
		case !t.Offered:
			fmt.Fprintf(w, "TLS\t%s\n", e.red("not offered: "+t.Error))
		default:
			fmt.Fprintf(w, "TLS\t%s %s (what the client negotiated)\n", t.Version, t.Cipher)
			for i, c := range t.Chain {
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
			}
			verdict := e.green(t.Verification)
			if t.Verification != "verify-full" {
				verdict = e.red(t.Verification)
			}
			fmt.Fprintf(w, "verification\t%s against %s\n", verdict, t.Roots)
			if t.Error != "" {
				fmt.Fprintf(w, "\t%s\n", e.red(t.Error))
			}
		}
	}
	if a := r.Auth; a != nil {
		if a.Skipped != "" {
			fmt.Fprintf(w, "authentication\tnot checked: %s\n", a.Skipped)
		} else {
			fmt.Fprintf(w, "authentication\t%s %s\n", a.Method, strings.Join(a.Mechanisms, ", "))
			cb := "SCRAM channel binding not offered"
			if a.ChannelBinding {
				cb = "SCRAM channel binding offered (SCRAM-SHA-256-PLUS)"
			}
			fmt.Fprintf(w, "\t%s\n", cb)
		}
	}
	if d := r.Downgrade; d != nil {
		if d.AcceptsPlaintext {
			fmt.Fprintf(w, "downgrade test\t%s\n", e.red("ACCEPTS PLAINTEXT: "+d.Detail))
		} else {
			fmt.Fprintf(w, "downgrade test\t%s\n", e.green(d.Detail))
		}
	}
	switch r.Policy.Outcome {
	case "allowed", "audited":
		fmt.Fprintf(w, "policy\t%s: sslmode %s, verification %s, %s %s\n", e.green(strings.ToUpper(r.Policy.Outcome)),
			r.Policy.SSLMode, r.Policy.Verification, r.Policy.Version, r.Policy.Cipher)
		if r.Policy.Reason != "" {
			fmt.Fprintf(w, "\taudited violation: %s\n", r.Policy.Reason)
		}
	case "refused":
		fmt.Fprintf(w, "policy\t%s [%s]\n", e.red("REFUSED"), r.Policy.Reason)
		fmt.Fprintf(w, "\t%s\n", r.Policy.Error)
	default:
		fmt.Fprintf(w, "policy\t%s\n", e.red("connection failed: "+r.Policy.Error))
	}
	if v := r.View; v != nil {
		fmt.Fprintf(w, "server view\tpg_stat_ssl: ssl=%v %s %s %d bits; PostgreSQL %s\n", v.SSL, v.Version, v.Cipher, v.Bits, v.ServerVersion)
	}
	w.Flush()
}
