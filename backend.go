package securepg

import (
	"context"
	"database/sql/driver"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
)

// mockBackend serves conns from a registered stand-in (sqlmocktest), with
// simulated TLS facts judged exactly like real ones.
type mockBackend struct {
	mock   seam.Mock
	policy core.Policy
	plan   core.Plan
	target core.Target // the DSN's first host, which the mock stands in for
}

func (b *mockBackend) Connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	cr, err := creds(ctx, b.target)
	if err != nil {
		return nil, core.Facts{}, nil, err
	}
	// A password from a hook or provider, judged as the real backends
	// judge it (the configuration's was judged at sql.Open).
	var audited []*core.Violation
	if cr != nil && cr.Password != "" {
		if v := core.PasswordRisk(b.plan, b.policy, b.target); v != nil {
			refusal, aud := core.Decide(b.policy, []*core.Violation{v})
			if refusal != nil {
				rec.Reject(refusal)
				return nil, core.Facts{}, nil, refusal
			}
			audited = aud
		}
	}
	dc, facts, err := b.mock.Connect(ctx, b.target)
	if err != nil {
		if isAuthFailure(err) {
			rec.CredentialsRejected(b.target) // the stand-in plays a server that asked for them
		}
		return nil, facts, nil, err
	}
	if facts.MinTLS == 0 {
		facts.MinTLS = b.target.MinTLS
	}
	refusal, live := core.Decide(b.policy, append(core.Judge(b.policy, facts), core.JudgeSession(b.policy, facts)...))
	if refusal != nil {
		dc.Close()
		rec.Reject(refusal)
		return nil, facts, nil, refusal
	}
	return dc, facts, append(audited, live...), nil
}
