package securepg_test

import (
	"testing"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	pglab "github.com/securepg/securepg/lab"
)

// TestAttackPinExtraCertificate: a pin is matched against the chain that
// verification built, never against whatever the peer sent: a server
// that appends a certificate with the pinned key to its valid chain (a
// certificate that chains nowhere) is refused with
// certificate_pin_mismatch, under verify-full and verify-ca, on both
// backends.
func TestAttackPinExtraCertificate(t *testing.T) {
	certs, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert := certs.Server.TLS
	cert.Certificate = append(append([][]byte(nil), cert.Certificate...), certs.SelfSigned.Leaf.Raw, certs.WrongHost.Leaf.Raw)
	peer := newHelloPeer(t, cert)
	for _, backend := range []string{"pgx", "pq"} {
		for _, mode := range []string{"verify-full", "verify-ca"} {
			t.Run(backend+"/"+mode, func(t *testing.T) {
				for _, pinned := range []string{core.SPKIHash(certs.SelfSigned.Leaf), core.SPKIHash(certs.WrongHost.Leaf)} {
					isolateEnv(t)
					t.Setenv("SECUREPG_PIN_SHA256", pinned)
					t.Setenv("SECUREPG_MIN_SSLMODE", mode)
					dsn := "host=localhost port=" + itoa(peer.port()) + " user=u dbname=d sslmode=" + mode + " sslrootcert=" + certs.CAFile + " connect_timeout=3"
					_, _, err := kexConnect(t, backend, dsn)
					requireReason(t, err, securepg.ReasonPinMismatch)
				}
			})
		}
	}
}
