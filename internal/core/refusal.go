package core

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/securepg/securepg/hooks"
)

// Public is v as securepg's callers see it (hooks.Violation, which
// package securepg exports as PolicyError): every text field escaped, the
// cause's text too (errors.As still reaches the cause itself).
func (v *Violation) Public(outcome string) *hooks.Violation {
	return &hooks.Violation{Reason: v.Reason, Host: SafeText(v.Host), Got: SafeText(v.Got), Want: SafeText(v.Want),
		Detail: SafeText(v.Detail), Fix: SafeText(v.Fix), Err: EscapeError(v.Err, nil), Outcome: outcome}
}

// NewPolicyError is the refusal for v; more counts the connector's further
// violations, which the command check lists.
func NewPolicyError(v *Violation, more int, check string) *hooks.Violation {
	pe := v.Public("refused")
	if more > 0 {
		pe.Fix += " (and " + strconv.Itoa(more) + " more; `" + check + "` lists them)"
	}
	return pe
}

// SettingError is a policy setting securepg cannot use (package securepg
// exports it): an unknown or misspelt SECUREPG_ variable, an invalid
// value, or a file a setting names that cannot be read.
type SettingError struct {
	Setting string // the variable or option at fault: SECUREPG_MIN_SSLMODE, WithMinSSLMode, ...
	Err     error  // what is wrong; it never holds the value
}

// Error is Err's text.
func (e *SettingError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *SettingError) Unwrap() error { return e.Err }

// settingError is a *SettingError for setting (a variable, or "option
// WithX"), its text made by fmt.Errorf.
func settingError(setting, format string, args ...any) error {
	return &SettingError{Setting: strings.TrimPrefix(setting, "option "), Err: fmt.Errorf(format, args...)}
}
