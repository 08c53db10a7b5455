package sqlmocktest

import (
	"errors"
	"testing"

	"github.com/securepg/securepg"
)

// TestAddressStageOnTheMockPath: the stand-in plays the DSN's host as the
// address dialed, and it is judged as a real dial's would be: loopback
// plaintext under SECUREPG_ALLOW_LOOPBACK_PLAINTEXT connects on 127.0.0.1
// and is refused for a name (the stand-in has no address to prove
// loopback) and for 10.0.0.1 (at New); SECUREPG_ALLOWED_NETWORKS refuses
// an IP host outside it.
func TestAddressStageOnTheMockPath(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, dsn string
			tls       TLS
			env       map[string]string
			atNew     bool
			reason    string
		}{
			{name: "loopback plaintext", dsn: "postgres://app@127.0.0.1:5432/app?sslmode=disable", tls: TLS{Disabled: true},
				env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true"}},
			{name: "a name", dsn: "postgres://app@sidecar:5432/app?sslmode=disable", tls: TLS{Disabled: true},
				env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true"}, reason: securepg.ReasonTLSDisabled},
			{name: "not loopback", dsn: "postgres://app@10.0.0.1:5432/app?sslmode=disable", tls: TLS{Disabled: true},
				env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true"}, atNew: true, reason: securepg.ReasonTLSDisabled},
			{name: "outside the networks", dsn: "postgres://app@10.0.0.2:5432/app?sslmode=verify-full",
				env: map[string]string{"SECUREPG_ALLOWED_NETWORKS": "127.0.0.1/32"}, reason: securepg.ReasonNetworkNotAllowed},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolate(t)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				db, _, err := newOn(drv, t, tc.dsn, WithTLS(tc.tls), WithSecurepg(securepg.WithLogger(discard())))
				switch {
				case err == nil && tc.atNew:
					t.Fatal("New accepted the DSN")
				case err == nil:
					err = db.Ping()
				case !tc.atNew:
					t.Fatalf("New: %v", err)
				}
				var pe *securepg.PolicyError
				if tc.reason == "" && err != nil || tc.reason != "" && (!errors.As(err, &pe) || pe.Reason != tc.reason) {
					t.Fatalf("err = %v, want %q", err, tc.reason)
				}
			})
		}
	}
}
