package securepg

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

func TestOptionsOverrideTheEnvironment(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	dsn := "host=db.example.com user=u sslmode=require"
	if _, err := NewConnector(dsn, WithLogger(discardLogger())); err != nil {
		t.Fatalf("env allows require: %v", err)
	}
	_, err := NewConnector(dsn, WithMinSSLMode("verify-full"), WithLogger(discardLogger()))
	requireReason(t, err, ReasonUnverifiedCertificate)
	t.Setenv("SECUREPG_MIN_SSLMODE", "verify-full")
	if _, err := NewConnector(dsn, WithMinSSLMode("require"), WithLogger(discardLogger())); err != nil {
		t.Fatalf("option allows require: %v", err)
	}
}

func TestOptionErrorsNameTheOption(t *testing.T) {
	isolateEnv(t)
	for _, tc := range []struct {
		opt  Option
		name string
	}{
		{WithMinSSLMode("strong"), "WithMinSSLMode"},
		{WithDriver("mysql"), "WithDriver"},
		{WithMode("loud"), "WithMode"},
		{WithMinTLSVersion(tls.VersionTLS11), "WithMinTLSVersion"},
		{WithRootCert("/nonexistent/ca.pem"), "WithRootCert"},
		{WithClientCert("/nonexistent/c.pem", "/nonexistent/k.pem"), "WithClientCert"},
	} {
		_, err := NewConnector("host=db sslmode=verify-full", tc.opt, WithLogger(discardLogger()))
		if err == nil || !strings.Contains(err.Error(), tc.name) || errors.Is(err, ErrPolicyViolation) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	// A nil option and a nil logger are ignored.
	if _, err := NewConnector("host=db sslmode=verify-full", nil, WithLogger(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidEnvironmentNamesTheVariable(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_TLS_VERSION", "1.1")
	_, err := NewConnector("host=db sslmode=verify-full")
	if err == nil || !strings.Contains(err.Error(), "SECUREPG_MIN_TLS_VERSION") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultPolicy(t *testing.T) {
	isolateEnv(t)
	_, err := NewConnector("host=db.example.com sslmode=require", WithLogger(discardLogger()))
	requireReason(t, err, ReasonUnverifiedCertificate)
	if _, err := NewConnector("host=db.example.com sslmode=verify-full"); err != nil {
		t.Fatal(err)
	}
}

func TestConnectorRendersNoSecret(t *testing.T) {
	isolateEnv(t)
	c, err := NewConnector("host=db.example.com password=Zq7-render sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := sprintf(f, c); strings.Contains(s, "Zq7-render") {
			t.Fatalf("%s renders the password: %s", f, s)
		}
	}
}
