package core

import (
	"crypto/sha256"
	"crypto/tls"
	"testing"
)

// TestAttack2PinPlanLoopbackRequire: the plan lets pins through for a
// loopback target below the minimum (SECUREPG_ALLOW_LOOPBACK_PLAINTEXT),
// but sslmode=require there always makes TLS and never verifies a chain:
// every handshake is then refused with certificate_pin_mismatch. The plan
// must say so (refuse before the dial), as it does for require elsewhere.
func TestAttack2PinPlanLoopbackRequire(t *testing.T) {
	p := DefaultPolicy()
	p.AllowLoopbackPlaintext = true
	p.Pins = Pins{sha256.Sum256([]byte("k"))}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		tg := Target{Host: host, Port: 5432, Network: "tcp", Mode: ModeRequire, Attempts: []Attempt{{TLS: true, Verify: VerifyNone}}}
		f := Facts{Network: "tcp", Host: host, Port: 5432, Mode: ModeRequire, TLS: true, Version: tls.VersionTLS13, Verify: VerifyNone, Loopback: true}
		planRefused := false
		for _, v := range Evaluate(Plan{Targets: []Target{tg}}, p) {
			planRefused = planRefused || v.Reason == ReasonPinMismatch
		}
		handshakeRefused := false
		for _, v := range Judge(p, f) {
			handshakeRefused = handshakeRefused || v.Reason == ReasonPinMismatch
		}
		if handshakeRefused && !planRefused {
			t.Errorf("%s: the plan allows pins under sslmode=require on loopback; every handshake is refused for them", host)
		}
	}
}

// TestAttack2PinPlanCustomTLS: lib/pq's sslmode=pqgo-* (a registered
// tls.Config securepg neither inspects nor verifies), allowed under a
// policy that accepts plaintext, makes a handshake securepg never sees:
// the pins are never matched against anything, and the connection is
// made. The plan let the pins through for it.
func TestAttack2PinPlanCustomTLS(t *testing.T) {
	p := DefaultPolicy()
	p.MinSSLMode = ModePrefer
	p.Pins = Pins{sha256.Sum256([]byte("k"))}
	tg := Target{Host: "db.example", Port: 5432, Network: "tcp", Mode: ModeRequire, Custom: true, Attempts: []Attempt{{TLS: true, Verify: VerifyNone}}}
	// What the dialer judges for such a connection: no TLS it made.
	if vs := Judge(p, Facts{Network: "tcp", Host: "db.example", Port: 5432, Mode: ModeRequire}); len(vs) != 0 {
		t.Fatalf("the handshake stage refuses it after all: %v", vs)
	}
	for _, v := range Evaluate(Plan{Targets: []Target{tg}}, p) {
		if v.Reason == ReasonPinMismatch {
			return
		}
	}
	t.Fatal("the plan allows pins with sslmode=pqgo-*, whose handshake they are never matched against")
}
