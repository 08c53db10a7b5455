package core

import (
	"strconv"

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
