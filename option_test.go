package securepg_test

import (
	"crypto/tls"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/libpq"
)

func TestOptionsOverrideTheEnvironment(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	dsn := "host=db.example.com user=u sslmode=require"
	if _, err := securepg.NewConnector(dsn, securepg.WithLogger(discardLogger())); err != nil {
		t.Fatalf("env allows require: %v", err)
	}
	_, err := securepg.NewConnector(dsn, securepg.WithMinSSLMode("verify-full"), securepg.WithLogger(discardLogger()))
	requireReason(t, err, securepg.ReasonUnverifiedCertificate)
	t.Setenv("SECUREPG_MIN_SSLMODE", "verify-full")
	if _, err := securepg.NewConnector(dsn, securepg.WithMinSSLMode("require"), securepg.WithLogger(discardLogger())); err != nil {
		t.Fatalf("option allows require: %v", err)
	}
}

// TestRefusalFixNamesTheOption: where the program set a setting with an
// option, a refusal's fix says so (changing the variable would change
// nothing); where the environment set it, it names only the variable.
func TestRefusalFixNamesTheOption(t *testing.T) {
	isolateEnv(t)
	dsn := "host=db.example.com user=u sslmode=require"
	_, err := securepg.NewConnector(dsn, securepg.WithMinSSLMode("verify-full"), securepg.WithLogger(discardLogger()))
	var pe *securepg.PolicyError
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "(this program sets SECUREPG_MIN_SSLMODE with WithMinSSLMode)") {
		t.Fatalf("%v", err)
	}
	t.Setenv("SECUREPG_MIN_SSLMODE", "verify-full")
	_, err = securepg.NewConnector(dsn, securepg.WithLogger(discardLogger()))
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "SECUREPG_MIN_SSLMODE") || strings.Contains(pe.Error(), "option") {
		t.Fatalf("%v", err)
	}
}

func TestOptionErrorsNameTheOption(t *testing.T) {
	isolateEnv(t)
	for _, tc := range []struct {
		opt  securepg.Option
		name string
	}{
		{securepg.WithMinSSLMode("strong"), "WithMinSSLMode"},
		{securepg.WithMode("loud"), "WithMode"},
		{securepg.WithMinTLSVersion(tls.VersionTLS11), "WithMinTLSVersion"},
		{securepg.WithRootCert("/nonexistent/ca.pem"), "WithRootCert"},
		{securepg.WithClientCert("/nonexistent/c.pem", "/nonexistent/k.pem"), "WithClientCert"},
	} {
		_, err := securepg.NewConnector("host=db sslmode=verify-full", tc.opt, securepg.WithLogger(discardLogger()))
		var se *securepg.SettingError
		if err == nil || !strings.Contains(err.Error(), tc.name) || errors.Is(err, securepg.ErrPolicyViolation) ||
			!errors.As(err, &se) || se.Setting != tc.name {
			t.Errorf("%s: err = %v (setting %v)", tc.name, err, se)
		}
	}
	// A nil option and a nil logger are ignored.
	if _, err := securepg.NewConnector("host=db sslmode=verify-full", nil, securepg.WithLogger(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestInvalidEnvironmentNamesTheVariable: an invalid or unknown SECUREPG_
// variable is a *SettingError naming it, from sql.Open on both backends
// as from NewConnector, and never a refusal.
func TestInvalidEnvironmentNamesTheVariable(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"SECUREPG_MIN_TLS_VERSION", "1.1"},
		{"SECUREPG_MIN_SSLMOD", "require"},
		{"SECUREPG_DRIVER", "pq"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv(tc.name, tc.value)
			_, cerr := securepg.NewConnector("host=db sslmode=verify-full")
			for _, drv := range []string{securepg.DriverName, libpq.DriverName} {
				db, err := sql.Open(drv, "host=db sslmode=verify-full")
				if err == nil {
					db.Close()
				}
				for _, err := range []error{cerr, err} {
					var se *securepg.SettingError
					if !errors.As(err, &se) || se.Setting != tc.name || !strings.Contains(err.Error(), tc.name) ||
						strings.Contains(err.Error(), "="+tc.value) || errors.Is(err, securepg.ErrPolicyViolation) {
						t.Fatalf("%s: err = %v", drv, err)
					}
				}
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	isolateEnv(t)
	_, err := securepg.NewConnector("host=db.example.com sslmode=require", securepg.WithLogger(discardLogger()))
	requireReason(t, err, securepg.ReasonUnverifiedCertificate)
	if _, err := securepg.NewConnector("host=db.example.com sslmode=verify-full"); err != nil {
		t.Fatal(err)
	}
}

func TestConnectorRendersNoSecret(t *testing.T) {
	isolateEnv(t)
	c, err := securepg.NewConnector("host=db.example.com password=Zq7-render sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := sprintf(f, c); strings.Contains(s, "Zq7-render") {
			t.Fatalf("%s renders the password: %s", f, s)
		}
	}
}
