package core

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

// TestJudgeKeyExchange: under hybrid-pq a classical or unknown group is
// refused (audited in audit mode) with key_exchange_classical, whose fix
// names the server side; a hybrid group passes; "any" judges no group.
func TestJudgeKeyExchange(t *testing.T) {
	base := Facts{Network: "tcp", Host: "db", Port: 5432, Mode: ModeVerifyFull, TLS: true, Version: tls.VersionTLS13, Verify: VerifyFull}
	for _, tc := range []struct {
		kex    KeyExchange
		audit  bool
		group  tls.CurveID
		refuse bool
		audits bool
	}{
		{KeyExchangeAny, false, tls.X25519, false, false},
		{KeyExchangeAny, false, 0, false, false},
		{KeyExchangeHybridPQ, false, tls.X25519MLKEM768, false, false},
		{KeyExchangeHybridPQ, false, tls.SecP256r1MLKEM768, false, false},
		{KeyExchangeHybridPQ, false, tls.SecP384r1MLKEM1024, false, false},
		{KeyExchangeHybridPQ, false, tls.X25519, true, false},
		{KeyExchangeHybridPQ, false, tls.CurveP384, true, false},
		{KeyExchangeHybridPQ, false, 0, true, false},
		{KeyExchangeHybridPQ, true, tls.X25519, false, true},
	} {
		p := DefaultPolicy()
		p.KeyExchange, p.Audit = tc.kex, tc.audit
		f := base
		f.CurveID = tc.group
		refusal, audited := Pass(p, Check{Stage: StageHandshake, Facts: f})
		if (refusal != nil) != tc.refuse || (len(audited) > 0) != tc.audits {
			t.Fatalf("%v audit=%v %v: refusal %v audited %v", tc.kex, tc.audit, tc.group, refusal, audited)
		}
		for _, v := range append(audited, refusal) {
			if v == nil {
				continue
			}
			if v.Reason != ReasonKeyExchangeClassical || !strings.Contains(v.Fix, "ssl_groups") || !strings.Contains(v.Fix, "OpenSSL 3.5") {
				t.Fatalf("%+v", v)
			}
		}
	}
}

// TestKeyExchangeSetting: the variable's values, an error naming it, and
// what hybrid-pq does to a tls.Config (enforce mode only).
func TestKeyExchangeSetting(t *testing.T) {
	p := DefaultPolicy()
	if p.KeyExchange != KeyExchangeAny || p.KeyExchange.String() != "any" {
		t.Fatal(p.KeyExchange)
	}
	if err := p.Set(EnvTLSKeyExchange, "pq-please", "WithTLSKeyExchange"); err == nil || !strings.Contains(err.Error(), "WithTLSKeyExchange") || strings.Contains(err.Error(), "pq-please") {
		t.Fatalf("%v", err)
	}
	if err := p.Set(EnvTLSKeyExchange, "hybrid-pq", EnvTLSKeyExchange); err != nil || !p.OffersOnlyHybrid() {
		t.Fatal(err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	restrictGroups(tc, p.OffersOnlyHybrid())
	if len(tc.CurvePreferences) != 3 || tc.MinVersion != tls.VersionTLS13 {
		t.Fatalf("%+v", tc)
	}
	for _, g := range tc.CurvePreferences {
		if !IsHybridPQ(g) {
			t.Fatal(g)
		}
	}
	p.Audit = true
	tc = &tls.Config{}
	restrictGroups(tc, p.OffersOnlyHybrid())
	if tc.CurvePreferences != nil || tc.MinVersion != 0 {
		t.Fatal("audit mode restricted the offer")
	}
	p.Audit = false
	for _, msg := range []string{"remote error: tls: handshake failure", "remote error: tls: protocol version not supported"} {
		if v := ClassifyConnectError(errors.New("failed to connect: "+msg), Target{Host: "db", Port: 5432, Network: "tcp"}, p); v == nil || v.Reason != ReasonKeyExchangeClassical {
			t.Fatalf("%s: %v", msg, v)
		}
	}
}

// TestKeyExchangeCappedBelowTLS13: a configuration capped below TLS 1.3
// (ssl_max_protocol_version) is refused under hybrid-pq before dialing.
func TestKeyExchangeCappedBelowTLS13(t *testing.T) {
	p := DefaultPolicy()
	p.KeyExchange = KeyExchangeHybridPQ
	plan := Plan{Targets: []Target{{Network: "tcp", Host: "db", Port: 5432, Mode: ModeVerifyFull, MaxTLS: tls.VersionTLS12}}}
	refusal, _, _ := JudgePlan(plan, p)
	if refusal == nil || refusal.Reason != ReasonKeyExchangeClassical || !strings.Contains(refusal.Detail, "ssl_max_protocol_version") {
		t.Fatalf("%v", refusal)
	}
	p.KeyExchange = KeyExchangeAny
	if refusal, _, _ := JudgePlan(plan, p); refusal != nil {
		t.Fatal(refusal)
	}
}
