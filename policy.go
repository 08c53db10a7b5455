package securepg

import (
	"context"
	"errors"
	"fmt"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
)

// resolvePolicy builds the effective policy: defaults, then the SECUREPG_*
// environment, then the options. It loads the certificate files the policy
// names, so that a bad path fails sql.Open rather than the first query.
func resolvePolicy(opts []Option) (core.Policy, options, error) {
	var o options
	for _, opt := range opts {
		switch b := opt.(type) {
		case nil:
		case seam.Backend: // libpq's (it has no apply of its own)
			o.backend = b
			o.settings = append(o.settings, setting{core.SettingDriver, core.DriverPQ, b.Name()})
		default:
			if err := applyOption(opt, &o); err != nil {
				return core.Policy{}, o, err
			}
		}
	}
	policy, err := core.PolicyFromEnv()
	if err != nil {
		return core.Policy{}, o, err
	}
	for _, s := range o.settings {
		if err := policy.Set(s.variable, s.value, s.source); err != nil {
			o.errs = append(o.errs, err)
		}
	}
	if err := o.telemetry.ReadEnv(); err != nil {
		o.errs = append(o.errs, err)
	}
	if err := errors.Join(o.errs...); err != nil {
		return core.Policy{}, o, err
	}
	policy.Logger = o.logger
	if err := policy.Load(); err != nil {
		return core.Policy{}, o, err
	}
	return policy, o, nil
}

// judge evaluates the connector's plan against its policy, a pure
// function of both. In enforce mode the first violation is the refusal;
// in audit mode every violation is logged and the connector is kept.
func (c *connector) judge() error {
	refusal, audited, all := core.JudgePlan(c.plan, c.policy)
	if refusal != nil {
		c.reportRefusal(context.Background(), refusal)
		c.tel.Refused(context.Background(), refusal)
		check := "securepg check"
		if c.policy.Driver == core.DriverPQ {
			check += " --driver " + core.NamePQ
		}
		return core.NewPolicyError(refusal, len(all)-1, check)
	}
	for _, v := range audited {
		c.reportAudit(context.Background(), v)
	}
	c.audited = audited
	return nil
}

// applyOption applies opt, and turns the panic of an option that wraps a
// nil Option (or wraps libpq.Backend(), whose Option is nil: securepg
// recognises it only unwrapped) into an error.
func applyOption(opt Option, o *options) (err error) {
	defer func() {
		if recover() != nil {
			err = fmt.Errorf("securepg: the option %T wraps a nil Option or libpq.Backend(); pass libpq.Backend() itself", opt)
		}
	}()
	opt.apply(o)
	return nil
}
