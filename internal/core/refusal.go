package core

import (
	"errors"
	"strconv"
)

// ErrPolicyViolation is matched by every refusal (package securepg exports it).
var ErrPolicyViolation = errors.New("securepg: policy violation")

// PolicyError describes a refusal; package securepg exports it, and its
// doc comment is the reference. It never contains a credential.
type PolicyError struct {
	Reason string // a stable code: ReasonTLSDisabled, ...
	Host   string // host:port or unix socket directory
	Got    string // what the connection had, e.g. "prefer"
	Want   string // what the policy demands, e.g. "verify-full"
	Detail string // what is wrong, in a sentence
	Fix    string // what to change
	Err    error  // the safe underlying cause (an x509 error, for instance), or nil

	more  int    // further violations of the same connector
	check string // the command that lists them
}

// NewPolicyError is the refusal for v; more counts the connector's further
// violations, which the command check lists.
func NewPolicyError(v *Violation, more int, check string) *PolicyError {
	return &PolicyError{Reason: v.Reason, Host: v.Host, Got: v.Got, Want: v.Want, Detail: v.Detail, Fix: v.Fix, Err: v.Err, more: more, check: check}
}

// Error says what was refused, why, and how to fix it.
func (e *PolicyError) Error() string {
	v := Violation{Reason: e.Reason, Host: e.Host, Detail: e.Detail, Fix: e.Fix, Err: e.Err}
	s := "securepg: refused: " + v.Message()
	if e.more > 0 {
		s += " (and " + strconv.Itoa(e.more) + " more; `" + e.check + "` lists them)"
	}
	return s
}

// Is makes errors.Is(err, ErrPolicyViolation) true.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicyViolation }

// Unwrap returns the underlying cause, if any.
func (e *PolicyError) Unwrap() error { return e.Err }
