package core

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"slices"
	"testing"
)

// gateInput is FuzzGate's input: a policy, a plan with one target, the
// facts of a connection to it and the address dialed, packed into small
// numbers and flags so that the fuzzer can reach every combination.
type gateInput struct {
	minMode, grade, mode, verify, version uint8
	flags                                 uint32
	networks, addr                        string
}

// The flags of a gateInput.
const (
	gAudit uint32 = 1 << iota
	gAllowUnix
	gAllowLoopback
	gForbidSuper
	gForbidDSNPassword
	gUnix
	gTLS
	gErrUntrusted
	gErrExpired
	gErrHost
	gPublicCA
	gLoopback
	gPassword
	gDSNPassword
	gPQ
	gCustom
	gPublicRoots
	gRootSystem
	gNoName
	gPlaintextAttempt
	gHostsDeny
	gWeakAuth
	gSuperOn
	gSuperOff
	gRoleFacts
	gRoleSuper
	gRoleMember
	gRoleProgram
	gRoleReadFiles
	gRoleWriteFiles
	gRoleCreate
	gPG16
)

func (in gateInput) has(f uint32) bool { return in.flags&f != 0 }

// decode turns in into what the judging functions take.
func (in gateInput) decode() (Policy, Plan, Target, Facts, netip.Addr) {
	p := Policy{
		MinSSLMode: SSLMode(1 + in.minMode%6), MinTLSVersion: tls.VersionTLS12,
		Audit: in.has(gAudit), AllowUnixSocket: in.has(gAllowUnix), AllowLoopbackPlaintext: in.has(gAllowLoopback),
		ForbidSuperuser: in.has(gForbidSuper), ForbidDSNPassword: in.has(gForbidDSNPassword),
		UnverifiedPassword: PasswordGrade(in.grade % 3), Sources: map[string]string{},
	}
	p.AllowedNetworks, _ = ParseNetworks(in.networks)
	if in.has(gHostsDeny) {
		p.AllowedHosts, _ = ParseHosts("db.parity.invalid")
	}
	t := Target{Host: "db.example.com", Port: 5432, Network: "tcp", Mode: SSLMode(1 + in.mode%6), RootCA: "/roots.pem",
		Custom: in.has(gCustom), PublicRoots: in.has(gPublicRoots), NoName: in.has(gNoName)}
	if in.has(gLoopback) {
		t.Host = "127.0.0.1"
	}
	if in.has(gUnix) {
		t.Network, t.Host, t.Port = "unix", "/var/run/postgresql", 0
	}
	if in.has(gRootSystem) {
		t.RootCA = "system"
	}
	if in.has(gTLS) || t.Mode >= ModeRequire {
		t.Attempts = append(t.Attempts, Attempt{TLS: true, Verify: Verification(in.verify % 3)})
	}
	if in.has(gPlaintextAttempt) || t.Mode <= ModeDisable {
		t.Attempts = append(t.Attempts, Attempt{})
	}
	plan := Plan{Driver: DriverPgx, Targets: []Target{t}, Password: in.has(gPassword), DSNPassword: in.has(gDSNPassword)}
	if in.has(gPQ) {
		plan.Driver = DriverPQ
	}
	if in.has(gWeakAuth) {
		plan.WeakAuth = "channel_binding=disable"
	}
	f := Facts{Network: t.Network, Host: t.Host, Port: t.Port, Mode: t.Mode, TLS: in.has(gTLS),
		Version: []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}[in.version%4],
		Verify:  Verification(in.verify % 3), PublicCA: in.has(gPublicCA), Loopback: in.has(gLoopback)}
	switch {
	case in.has(gErrHost):
		f.VerifyErr = x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"other.example"}}, Host: t.Host}
	case in.has(gErrExpired):
		f.VerifyErr = x509.CertificateInvalidError{Reason: x509.Expired}
	case in.has(gErrUntrusted):
		f.VerifyErr = x509.UnknownAuthorityError{}
	}
	switch {
	case in.has(gSuperOn):
		f.Superuser = "on"
	case in.has(gSuperOff):
		f.Superuser = "off"
	}
	if in.has(gRoleFacts) {
		f.Role = &RoleFacts{Superuser: in.has(gRoleSuper), SuperuserMember: in.has(gRoleMember), ExecuteServerProgram: in.has(gRoleProgram),
			ReadServerFiles: in.has(gRoleReadFiles), WriteServerFiles: in.has(gRoleWriteFiles), CreateRole: in.has(gRoleCreate), ServerVersion: 150004}
		if in.has(gPG16) {
			f.Role.ServerVersion = 160002
		}
	}
	a, _ := netip.ParseAddr(in.addr)
	return p, plan, t, f, a
}

// gateSeeds: each reason code, and the controls (a verified connection,
// audit mode), as FuzzGate's corpus. TestGateSeedsCoverEveryReason holds
// them to it.
var gateSeeds = []gateInput{
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gPassword},                                // verify-full: allowed
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gPassword | gAudit | gHostsDeny},          // audit: host_not_allowed let through
	{minMode: 5, mode: 0, verify: 0, version: 3},                                                         // tls_disabled
	{minMode: 5, mode: 2, verify: 0, version: 3, flags: gPlaintextAttempt},                               // plaintext_fallback
	{minMode: 5, mode: 3, verify: 0, version: 3, flags: gTLS},                                            // unverified_certificate
	{minMode: 5, mode: 4, verify: 1, version: 3, flags: gTLS},                                            // unverified_hostname
	{minMode: 5, mode: 5, verify: 2, version: 1, flags: gTLS},                                            // tls_version_too_low
	{minMode: 5, mode: 5, flags: gUnix},                                                                  // unix_socket
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gCustom},                                  // custom_tls_config
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gNoName},                                  // no_host_name
	{minMode: 5, mode: 5, verify: 0, version: 3},                                                         // tls_not_established (no TLS)
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gErrUntrusted},                            // certificate_untrusted
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gErrExpired},                              // certificate_expired
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gErrHost},                                 // hostname_mismatch
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gDSNPassword | gForbidDSNPassword},        // password_in_dsn
	{minMode: 3, mode: 3, verify: 0, version: 3, flags: gTLS | gPassword | gPQ},                          // password_unverified_server (lib/pq)
	{minMode: 3, mode: 3, verify: 0, version: 3, flags: gTLS | gPassword | gWeakAuth},                    // password_unverified_server (pgx, weakened)
	{minMode: 3, mode: 4, verify: 1, version: 3, flags: gTLS | gPassword | gPQ | gRootSystem},            // verify-ca against the system roots
	{minMode: 3, grade: 1, mode: 3, verify: 0, version: 3, flags: gTLS | gPassword | gPQ},                // scram grade
	{minMode: 3, grade: 2, mode: 3, verify: 0, version: 3, flags: gTLS | gPassword | gPQ},                // the protection off
	{minMode: 5, mode: 1, version: 3, flags: gAllowLoopback | gLoopback | gPassword | gPlaintextAttempt}, // loopback plaintext with a password
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gHostsDeny},                               // host_not_allowed
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS, networks: "10.0.0.0/8", addr: "127.0.0.1"}, // network_not_allowed
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS, networks: "private", addr: "10.1.2.3"},     // an allowed network
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOn},                  // superuser_session
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOff},                 // superuser_session (no role facts)
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOff | gRoleFacts | gRoleMember},
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOff | gRoleFacts | gRoleProgram}, // privileged_role
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOff | gRoleFacts | gRoleReadFiles | gRoleWriteFiles},
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOff | gRoleFacts | gRoleCreate},
	{minMode: 5, mode: 5, verify: 2, version: 3, flags: gTLS | gForbidSuper | gSuperOff | gRoleFacts | gRoleCreate | gPG16}, // allowed on 16
	{minMode: 3, mode: 4, verify: 1, version: 3, flags: gTLS | gPassword | gPublicCA | gAudit},                              // audit: public CA
}

// FuzzGate drives the gate (Pass, at every stage, and the judging it
// applies: Evaluate, JudgeAddress, Judge, the credential check,
// JudgeSession, PasswordProtected) with random facts
// and policies, and checks the gate's invariants: no password goes to a
// server whose identity is unverified unless the password rule
// (SECUREPG_ALLOW_UNVERIFIED_PASSWORD) allows it; enforce never allows a
// violation; audit never refuses a soft one; a refusal is one of the
// violations found.
func FuzzGate(f *testing.F) {
	for _, s := range gateSeeds {
		f.Add(s.minMode, s.grade, s.mode, s.verify, s.version, s.flags, s.networks, s.addr)
	}
	f.Fuzz(func(t *testing.T, minMode, grade, mode, verify, version uint8, flags uint32, networks, addr string) {
		checkGate(t, gateInput{minMode, grade, mode, verify, version, flags, networks, addr})
	})
}

// TestGateSeedsCoverEveryReason: FuzzGate's seeds raise every reason
// code, and hold the invariants.
func TestGateSeedsCoverEveryReason(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range gateSeeds {
		for _, v := range checkGate(t, s) {
			seen[v.Reason] = true
		}
	}
	for _, r := range []string{ReasonTLSDisabled, ReasonPlaintextFallback, ReasonUnverifiedCertificate, ReasonUnverifiedHostname,
		ReasonTLSVersionTooLow, ReasonUnixSocket, ReasonCustomTLSConfig, ReasonNoHostName, ReasonTLSNotEstablished,
		ReasonCertificateUntrusted, ReasonCertificateExpired, ReasonHostnameMismatch, ReasonPasswordInDSN, ReasonPasswordUnverified,
		ReasonHostNotAllowed, ReasonNetworkNotAllowed, ReasonSuperuserSession, ReasonPrivilegedRole} {
		if !seen[r] {
			t.Errorf("no seed raises %s", r)
		}
	}
}

// checkGate judges in at every stage, checks the invariants and returns
// every violation found.
func checkGate(t *testing.T, in gateInput) []*Violation {
	t.Helper()
	p, plan, tg, f, addr := in.decode()
	var all []*Violation
	gate := func(stage string, c Check) []*Violation {
		t.Helper()
		vs := c.judge(p)
		all = append(all, vs...)
		refusal, audited := Pass(p, c)
		if refusal != nil && !slices.ContainsFunc(vs, func(v *Violation) bool { return v.Reason == refusal.Reason && v.Host == refusal.Host }) {
			t.Fatalf("%s: Pass refused with %v, not one of the violations %v", stage, refusal, vs)
		}
		switch {
		case !p.Audit && len(vs) > 0 && refusal == nil:
			t.Fatalf("%s: enforce allowed %v", stage, vs)
		case p.Audit && refusal != nil && !refusal.Hard:
			t.Fatalf("%s: audit refused the soft violation %v", stage, refusal)
		case p.Audit && refusal == nil && len(audited) != len(vs):
			t.Fatalf("%s: audit reported %d of %d violations", stage, len(audited), len(vs))
		case refusal != nil && len(audited) > 0:
			t.Fatalf("%s: refused and audited at once", stage)
		}
		for _, v := range vs {
			if v.Reason == "" || v.Error() == "" {
				t.Fatalf("%s: a violation without a reason: %#v", stage, v)
			}
		}
		return vs
	}

	// Plan: a password that would leave for an unverified server.
	planVs := gate("plan", Check{Stage: StagePlan, Plan: plan})
	tlsAttempt := slices.ContainsFunc(tg.Attempts, func(a Attempt) bool { return a.TLS })
	unverified := p.MinSSLMode.NeedsTLS() && p.UnverifiedPassword != PasswordAny && tg.Network == "tcp" && !tg.Custom &&
		tlsAttempt && !tg.IdentityVerified()
	if unverified && !PasswordProtected(p, tg) {
		t.Fatalf("the password protection does not cover an unverified server: policy %+v, target %+v", p, tg)
	}
	if p.UnverifiedPassword == PasswordAny && PasswordProtected(p, tg) {
		t.Fatalf("SECUREPG_ALLOW_UNVERIFIED_PASSWORD=true, and the password is still protected")
	}
	cannotBind := plan.Driver == DriverPQ || plan.WeakAuth != "" || LoopbackPermit(p, tg) && tg.HasPlaintext()
	if unverified && plan.Password && p.UnverifiedPassword == PasswordBound && cannotBind &&
		!slices.ContainsFunc(planVs, func(v *Violation) bool { return v.Reason == ReasonPasswordUnverified }) {
		t.Fatalf("a password that cannot go bound to an unverified server is allowed: plan %+v, policy %+v", plan, p)
	}

	// Address.
	addrVs := gate("address", Check{Stage: StageAddress, Target: tg, Addr: addr, AddrText: in.addr})
	if tg.Network == "tcp" && p.AllowedNetworks.Set() && !(addr.IsValid() && p.AllowedNetworks.Allows(addr)) &&
		!slices.ContainsFunc(addrVs, func(v *Violation) bool { return v.Reason == ReasonNetworkNotAllowed }) {
		t.Fatalf("%q outside %q is allowed", in.addr, in.networks)
	}

	// Handshake: enforce never lets through what the policy demands.
	conn := gate("handshake", Check{Stage: StageHandshake, Facts: f})
	lp := LoopbackPlaintext(p, f)
	var want string
	switch {
	case f.Network == "unix":
		if !p.AllowUnixSocket {
			want = "a unix socket"
		}
	case !f.TLS:
		if p.MinSSLMode.NeedsTLS() && !lp {
			want = "plaintext"
		}
	case f.VerifyErr != nil:
		want = "a certificate that failed verification"
	case f.Version < p.MinTLSVersion:
		want = "an old TLS version"
	case f.Verify < p.MinSSLMode.Required() && !lp:
		want = "a verification below the minimum"
	}
	if want != "" && len(conn) == 0 {
		t.Fatalf("%s is allowed: policy %+v, facts %+v", want, p, f)
	}
	if f.TLS && f.Network == "tcp" && f.PublicCA && f.Verify == VerifyCA && p.MinSSLMode.NeedsTLS() &&
		p.UnverifiedPassword != PasswordAny && !tg.Custom && !PasswordProtectedConn(p, tg, f) {
		t.Fatalf("verify-ca with a public CA is taken for an identity: policy %+v", p)
	}

	// Credential: a driver that cannot bind (lib/pq) never sends a
	// password to a server the password rule does not let it trust.
	unbound := gate("credential", Check{Stage: StageCredential, Credential: CredentialUnbound, Target: tg, Facts: f})
	if p.UnverifiedPassword == PasswordBound && (f.TLS && PasswordProtectedConn(p, tg, f) || !f.TLS && PasswordProtected(p, tg)) && len(unbound) == 0 {
		t.Fatalf("an unbound password to an unverified server is allowed: policy %+v, facts %+v", p, f)
	}
	if p.UnverifiedPassword != PasswordBound && len(unbound) > 0 {
		t.Fatalf("the unbound-password check refused under %v", p.UnverifiedPassword)
	}

	// Session.
	sess := gate("session", Check{Stage: StageSession, Facts: f})
	r := f.Role
	road := f.Superuser == "on" || r == nil || r.Superuser || r.SuperuserMember || r.ExecuteServerProgram ||
		r.ReadServerFiles || r.WriteServerFiles || r.CreateRole && r.ServerVersion < 160000
	switch {
	case !p.ForbidSuperuser && len(sess) > 0:
		t.Fatalf("the session judged without SECUREPG_FORBID_SUPERUSER: %v", sess)
	case p.ForbidSuperuser && road && len(sess) == 0:
		t.Fatalf("a road to superuser or the OS is allowed: superuser=%q role %+v", f.Superuser, r)
	case p.ForbidSuperuser && !road && len(sess) > 0:
		t.Fatalf("a plain role is refused: %v", sess)
	}
	return all
}
