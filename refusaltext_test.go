package securepg_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestRefusalSaysWhereTheSSLModeCameFrom: a refusal of an sslmode the
// code does not show (PGSSLMODE, a service file), or that became another
// (require with root certificates is verify-ca), says so; a plaintext
// sslmode to a loopback host names the sidecar setting. On both backends.
func TestRefusalSaysWhereTheSSLModeCameFrom(t *testing.T) {
	certs, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := certs.CAFile
	for _, tc := range []struct {
		name, dsn string
		env       map[string]string
		service   string
		want      []string // in the error
		not       []string // never in the error
	}{
		{"PGSSLMODE", "host=db.internal user=app", map[string]string{"PGSSLMODE": "prefer"}, "",
			[]string{"(sslmode=prefer, from PGSSLMODE)"}, []string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT"}},
		{"service file", "service=svc user=app", nil, "[svc]\nhost=db.internal\nsslmode=require\n",
			[]string{"(sslmode=require, from service file [svc])"}, nil},
		{"require with the org's roots", "host=db.internal user=app sslmode=require", map[string]string{"SECUREPG_SSLROOTCERT": ca}, "",
			[]string{"(sslmode=require, from the DSN, with root certificates is verify-ca)"}, nil},
		{"the DSN's own", "host=db.internal user=app sslmode=prefer", nil, "",
			[]string{"sslmode=prefer allows a plaintext fallback;"}, []string{"from"}},
		{"localhost", "host=localhost user=app sslmode=disable", nil, "",
			[]string{"for a sidecar on this machine, SECUREPG_ALLOW_LOOPBACK_PLAINTEXT=true"}, nil},
		{"::1", "host=::1 user=app sslmode=disable", nil, "",
			[]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT=true"}, nil},
		{"not loopback", "host=10.0.0.1 user=app sslmode=disable", nil, "",
			nil, []string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT"}},
	} {
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(tc.name+"/"+drv, func(t *testing.T) {
				isolateEnv(t)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				if tc.service != "" {
					writeService(t, tc.service)
				}
				_, err := connectorFor(drv, tc.dsn, securepg.WithLogger(discardLogger()))
				var pe *securepg.PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a refusal", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("the error does not say %q: %v", w, err)
					}
				}
				for _, n := range tc.not {
					if strings.Contains(err.Error(), n) {
						t.Errorf("the error says %q: %v", n, err)
					}
				}
			})
		}
	}
}
