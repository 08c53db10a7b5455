package core

import (
	"strings"
	"testing"
)

// TestUnknownVariables: a SECUREPG_ variable securepg does not know is an
// error naming the closest known one, never its value; SECUREPG_DRIVER
// names the driver names; lab's variables, known ones and blank values
// pass.
func TestUnknownVariables(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string // "" = no error
	}{
		{[]string{"SECUREPG_MIN_SSLMODE=require", "SECUREPG_LAB_PG18_BIN=/x", "SECUREPG_OPERATION_SPANS=false", "PATH=/bin"}, ""},
		{[]string{"SECUREPG_MIN_SSL_MODE=Zq7-disable"}, "did you mean SECUREPG_MIN_SSLMODE?"},
		{[]string{"SECUREPG_SSL_ROOT_CERT=Zq7"}, "did you mean SECUREPG_SSLROOTCERT?"},
		{[]string{"SECUREPG_FORBID_SUPERUSERS=Zq7"}, "did you mean SECUREPG_FORBID_SUPERUSER?"},
		{[]string{"SECUREPG_PIN=Zq7"}, "did you mean SECUREPG_PIN_SHA256?"},
		{[]string{"SECUREPG_LAB_FOO=Zq7"}, "unknown variable SECUREPG_LAB_FOO"},
		{[]string{"SECUREPG_LAB_PG19_BIN=/x", "SECUREPG_LAB_PG15_BIN=/y"}, ""},
		{[]string{"SECUREPG_KEY_EXCHANGE=Zq7"}, "did you mean SECUREPG_TLS_KEY_EXCHANGE?"},
		{[]string{"SECUREPG_DRIVER=pq"}, `sql.Open("securepg-pq", dsn) is lib/pq`},
		{[]string{"securepg_forbid_superuser=Zq7"}, "did you mean SECUREPG_FORBID_SUPERUSER?"},
		{[]string{"Securepg_MIN_SSLMODE=Zq7"}, "did you mean SECUREPG_MIN_SSLMODE?"},
		{[]string{"SECUREPG_DRIVER=", "SECUREPG_TYPO= "}, ""},
		{[]string{"SECUREPG_\x1b[2J" + strings.Repeat("A", 1<<16) + "=Zq7"}, "unknown variable SECUREPG_"},
	} {
		err := unknownVariables(tc.environ)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.environ, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: %v, want %q", tc.environ, err, tc.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "Zq7") || strings.Contains(msg, "\x1b") || len(msg) > 512 {
			t.Errorf("the error shows the value, raw control bytes or too much: %.200q", msg)
		}
	}
}

// TestBooleansAreTrueOrFalse: a boolean setting is "true" or "false" (in
// any case), as documented; "yes", "1", "on" are errors naming the
// variable, not a guess at what was meant.
func TestBooleansAreTrueOrFalse(t *testing.T) {
	for _, v := range []string{EnvAllowUnixSocket, EnvForbidDSNPass, EnvForbidSuperuser, EnvAllowLoopPlain, EnvAllowUnverPass} {
		for value, ok := range map[string]bool{"true": true, "FALSE": true, "yes": false, "1": false, "on": false, "0": false} {
			p := DefaultPolicy()
			err := p.Set(v, value, v)
			if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), v) {
				t.Errorf("%s=%s: %v", v, value, err)
			}
		}
	}
}
