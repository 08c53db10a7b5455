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
	target core.Target // the DSN's first host, which the mock stands in for
}

func (b *mockBackend) Connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	if _, err := creds(ctx, b.target); err != nil {
		return nil, core.Facts{}, nil, err
	}
	rec.Asked() // the stand-in plays a server that asks for the credentials
	dc, facts, err := b.mock.Connect(ctx, b.target)
	if err != nil {
		return nil, facts, nil, err
	}
	if facts.MinTLS == 0 {
		facts.MinTLS = b.target.MinTLS
	}
	refusal, audited := core.Decide(b.policy, core.Judge(b.policy, facts))
	if refusal != nil {
		dc.Close()
		rec.Reject(refusal)
		return nil, facts, nil, refusal
	}
	return dc, facts, audited, nil
}
