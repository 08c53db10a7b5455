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
