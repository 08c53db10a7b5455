package core

import (
	"strings"
	"testing"
)

// TestPasswordRuleNamesWhatTheDriverCanDo: check and probe show the
// password rule per target; under SECUREPG_ALLOW_UNVERIFIED_PASSWORD=scram
// lib/pq is never said to bind SCRAM to TLS (it cannot), pgx is.
func TestPasswordRuleNamesWhatTheDriverCanDo(t *testing.T) {
	p := DefaultPolicy()
	p.MinSSLMode, p.UnverifiedPassword = ModeRequire, PasswordSCRAM
	p.Sources = map[string]string{EnvAllowUnverPass: EnvAllowUnverPass}
	target := Target{Host: "db", Port: 5432, Network: "tcp", Mode: ModeRequire, Attempts: []Attempt{{TLS: true, Verify: VerifyNone}}}
	for driver, want := range map[string]string{
		DriverPQ:  "never bound to TLS (lib/pq cannot bind",
		DriverPgx: "bound to TLS where the server offers it",
	} {
		got := PasswordRule(Plan{Driver: driver, Password: true, Targets: []Target{target}}, p, target)
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q in it", driver, got, want)
		}
	}
}
