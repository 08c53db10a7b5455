package core

import (
	"crypto/x509"
	"net/netip"
	"testing"
)

// TestJudgeAddress: the address stage, as every dialer calls it before
// the dial: the allowed networks, and loopback where only
// SECUREPG_ALLOW_LOOPBACK_PLAINTEXT permits the target's sslmode. A name
// (not an address) cannot be judged and is refused where a rule applies.
func TestJudgeAddress(t *testing.T) {
	nets, err := ParseNetworks("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	weak := Target{Host: "sidecar", Port: 5432, Network: "tcp", Mode: ModeDisable, Attempts: []Attempt{{}}}
	strong := Target{Host: "db", Port: 5432, Network: "tcp", Mode: ModeVerifyFull, Attempts: []Attempt{{TLS: true, Verify: VerifyFull}}}
	sock := Target{Host: "/tmp", Port: 5432, Network: "unix", Mode: ModeDisable}
	for _, tc := range []struct {
		name     string
		networks bool
		loopback bool
		t        Target
		addr     string
		want     string // the first reason, "" none
	}{
		{name: "no rule", t: strong, addr: "10.0.0.1:5432"},
		{name: "inside", networks: true, t: strong, addr: "127.0.0.1:5432"},
		{name: "outside", networks: true, t: strong, addr: "127.0.0.2:5432", want: ReasonNetworkNotAllowed},
		{name: "mapped inside", networks: true, t: strong, addr: "[::ffff:127.0.0.1]:5432"},
		{name: "a name", networks: true, t: strong, addr: "db:5432", want: ReasonNetworkNotAllowed},
		{name: "unix", networks: true, loopback: true, t: sock, addr: "/tmp/.s.PGSQL.5432"},
		{name: "loopback v4", loopback: true, t: weak, addr: "127.0.0.9:5432"},
		{name: "loopback v6", loopback: true, t: weak, addr: "[::1]:5432"},
		{name: "not loopback", loopback: true, t: weak, addr: "10.0.0.1:5432", want: ReasonTLSDisabled},
		{name: "name not judged loopback", loopback: true, t: weak, addr: "sidecar:5432", want: ReasonTLSDisabled},
		{name: "strong target anywhere", loopback: true, t: strong, addr: "10.0.0.1:5432"},
		{name: "both, outside networks", networks: true, loopback: true, t: weak, addr: "127.0.0.2:5432", want: ReasonNetworkNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			if tc.networks {
				p.AllowedNetworks = nets
			}
			p.AllowLoopbackPlaintext = tc.loopback
			network := tc.t.Network
			if network == "" {
				network = "tcp"
			}
			refusal, _, _ := CheckAddress(p, tc.t, network, tc.addr)
			switch {
			case tc.want == "" && refusal != nil:
				t.Fatalf("refused: %v", refusal)
			case tc.want != "" && (refusal == nil || refusal.Reason != tc.want):
				t.Fatalf("refusal %v, want %s", refusal, tc.want)
			}
		})
	}
	if got := JudgeAddress(DefaultPolicy(), weak, netip.MustParseAddr("10.0.0.1"), "10.0.0.1:5432"); len(got) != 0 {
		t.Fatalf("without the setting the address stage leaves the sslmode to the plan: %v", got)
	}
}

// TestLoopbackPlaintextPlan: the plan stage under
// SECUREPG_ALLOW_LOOPBACK_PLAINTEXT: a weak sslmode to a loopback address
// or a name passes (the name is judged at the address stage), to another
// address is refused; without the setting, refused; a known password
// over plaintext needs SECUREPG_ALLOW_UNVERIFIED_PASSWORD=scram or true.
func TestLoopbackPlaintextPlan(t *testing.T) {
	for _, tc := range []struct {
		name, host, hostaddr string
		allow                bool
		password             bool
		grade                PasswordGrade
		want                 string
	}{
		{name: "loopback", host: "127.0.0.1", allow: true},
		{name: "v6 loopback", host: "::1", allow: true},
		{name: "a name", host: "sidecar", allow: true},
		{name: "not loopback", host: "10.0.0.1", allow: true, want: ReasonTLSDisabled},
		{name: "hostaddr not loopback", host: "sidecar", hostaddr: "10.0.0.1", allow: true, want: ReasonTLSDisabled},
		{name: "without the setting", host: "127.0.0.1", want: ReasonTLSDisabled},
		{name: "password, bound", host: "127.0.0.1", allow: true, password: true, want: ReasonPasswordUnverified},
		{name: "password, scram", host: "127.0.0.1", allow: true, password: true, grade: PasswordSCRAM},
		{name: "password, any", host: "127.0.0.1", allow: true, password: true, grade: PasswordAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			p.AllowLoopbackPlaintext, p.UnverifiedPassword = tc.allow, tc.grade
			plan := Plan{Driver: DriverPgx, Password: tc.password, Targets: []Target{{Host: tc.host, Hostaddr: tc.hostaddr, Port: 5432,
				Network: "tcp", Mode: ModeDisable, Attempts: []Attempt{{}}}}}
			refusal, _, _ := JudgePlan(plan, p)
			switch {
			case tc.want == "" && refusal != nil:
				t.Fatalf("refused: %v", refusal)
			case tc.want != "" && (refusal == nil || refusal.Reason != tc.want):
				t.Fatalf("refusal %v, want %s", refusal, tc.want)
			}
		})
	}
}

// TestJudgeLoopbackPlaintext: a connection made below the minimum is
// accepted only when the setting is on and the address connected to was
// loopback; a certificate the configuration demanded is still checked.
func TestJudgeLoopbackPlaintext(t *testing.T) {
	p := DefaultPolicy()
	plain := Facts{Network: "tcp", Host: "127.0.0.1", Port: 5432, Mode: ModeDisable, Loopback: true}
	if vs := Judge(p, plain); len(vs) == 0 {
		t.Fatal("plaintext accepted without the setting")
	}
	p.AllowLoopbackPlaintext = true
	if vs := Judge(p, plain); len(vs) != 0 {
		t.Fatalf("loopback plaintext refused: %v", vs)
	}
	far := plain
	far.Loopback = false
	if vs := Judge(p, far); len(vs) == 0 {
		t.Fatal("plaintext to a non-loopback address accepted")
	}
	req := Facts{Network: "tcp", Host: "127.0.0.1", Port: 5432, Mode: ModeRequire, Loopback: true, TLS: true, Version: 0x0304, Verify: VerifyNone}
	if vs := Judge(p, req); len(vs) != 0 {
		t.Fatalf("loopback require refused: %v", vs)
	}
	req.VerifyErr = x509.UnknownAuthorityError{}
	if vs := Judge(p, req); len(vs) == 0 || !vs[0].Hard {
		t.Fatalf("a failed verification accepted: %v", vs)
	}
}
