package securepg_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
)

// TestAttackCustomTLSUnderKexAndPins: lib/pq's sslmode=pqgo-* hands the
// handshake to a registered tls.Config that securepg can neither inspect
// nor verify; the plan lets it through under a policy that allows
// plaintext, even with SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq or
// SECUREPG_PIN_SHA256 set. It holds only because such a connection never
// completes through securepg-pq (the watch on the session's first bytes
// reads lib/pq's own SSLRequest answer 'S' as a message header and fails
// closed), with or without those settings. A classical handshake and an
// unpinned key must never connect this way.
func TestAttackCustomTLSUnderKexAndPins(t *testing.T) {
	l := getLab(t)
	ca, err := os.ReadFile(l.Certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	pq.RegisterTLSConfig("atkclassical", &tls.Config{RootCAs: roots, ServerName: "localhost",
		CurvePreferences: []tls.CurveID{tls.X25519}, MaxVersion: tls.VersionTLS12})
	other, err := l.Certs.Issue("other", []string{"other"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dsn := "host=localhost port=" + itoa(l.Port) + " " + l.auth() + " sslmode=pqgo-atkclassical"
	for _, c := range []struct{ name, env, val, reason string }{
		{"none", "SECUREPG_MODE", "enforce", ""},
		{"hybrid-pq", "SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq", securepg.ReasonKeyExchangeClassical},
		{"pins", "SECUREPG_PIN_SHA256", core.SPKIHash(other.Leaf), securepg.ReasonPinMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "prefer")
			t.Setenv(c.env, c.val)
			if c.env == "SECUREPG_PIN_SHA256" {
				// The plan refuses pins it cannot match, before any dial
				// (TestAttack2PinPlanCustomTLS).
				_, err := connectorFor("pq", dsn, securepg.WithLogger(discardLogger()))
				requireReason(t, err, c.reason)
				return
			}
			_, _, err := kexConnect(t, "pq", dsn)
			if err == nil && c.reason != "" {
				t.Fatalf("connected through lib/pq's own TLS (TLS 1.2, X25519) under %s=%s", c.env, c.val)
			}
		})
	}
}
