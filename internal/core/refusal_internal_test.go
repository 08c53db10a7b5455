package core

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/securepg/securepg/hooks"
)

// TestPublicViolationIsEscaped: what a caller or a hook sees of a
// violation holds no control character in any text field nor in its
// text, while errors.As still reaches the cause itself.
func TestPublicViolationIsEscaped(t *testing.T) {
	const evil = "\x1b[2K\x1b[1Gok: verified\u202e\x07"
	cause := x509.HostnameError{Certificate: &x509.Certificate{}, Host: "db" + evil}
	v := &Violation{Reason: ReasonHostnameMismatch, Host: "h" + evil + ":5432", Got: "g" + evil, Want: "w" + evil,
		Detail: "d" + evil, Fix: "f" + evil, Err: cause}
	for _, pe := range []*hooks.Violation{v.Public("audited"), NewPolicyError(v, 2, "securepg check")} {
		for name, s := range map[string]string{"Host": pe.Host, "Got": pe.Got, "Want": pe.Want, "Detail": pe.Detail,
			"Fix": pe.Fix, "Err": pe.Err.Error(), "Error": pe.Error(), "%#v": fmt.Sprintf("%#v", *pe)} {
			if SafeText(s) != s || strings.ContainsAny(s, "\x1b\x07\u202e") {
				t.Errorf("%s of %s holds raw control text: %q", name, pe.Outcome, s)
			}
		}
		var he x509.HostnameError
		if !errors.As(pe, &he) || he.Host != cause.Host {
			t.Errorf("errors.As does not reach the cause through %s", pe.Outcome)
		}
		if !errors.Is(pe, hooks.ErrPolicyViolation) {
			t.Errorf("%s is not ErrPolicyViolation", pe.Outcome)
		}
	}
	if pe := NewPolicyError(v, 2, "securepg check"); !strings.Contains(pe.Error(), "(and 2 more; `securepg check` lists them) ["+ReasonHostnameMismatch+"]") ||
		!strings.HasPrefix(pe.Error(), "securepg: refused: ") {
		t.Errorf("refusal reads %q", pe.Error())
	}
}
