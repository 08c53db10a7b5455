package securepg

import (
	"cmp"
	"context"
	"database/sql/driver"
	"net/netip"

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

func newMockBackend(m seam.Mock, p core.Policy, plan core.Plan) *mockBackend {
	b := &mockBackend{mock: m, policy: p, plan: plan}
	if len(plan.Targets) > 0 {
		b.target = plan.Targets[0]
	}
	return b
}

// UseMock serves c's conns from m (sqlmocktest.New and OpenDB): see
// seam.Connector. A nil m changes nothing.
func (s connectorSeam) UseMock(m seam.Mock) {
	if m != nil {
		s.c.backend = newMockBackend(m, s.c.policy, s.c.plan)
	}
}

func (b *mockBackend) Connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	var audited []*core.Violation
	judge := func(c core.Check) error {
		refusal, aud := core.Pass(b.policy, c)
		if refusal != nil {
			rec.Reject(refusal)
			return refusal
		}
		audited = append(audited, aud...)
		return nil
	}
	cr, err := creds(ctx, b.target)
	if err != nil {
		return nil, core.Facts{}, nil, err
	}
	// A provider's password, judged as the real backends judge it (the
	// configuration's was judged at sql.Open).
	if cr != nil && cr.Password != "" {
		if err := judge(core.Check{Stage: core.StageCredential, Credential: core.CredentialSupplied, Plan: b.plan, Target: b.target}); err != nil {
			return nil, core.Facts{}, nil, err
		}
	}
	// The address stage, on the address the stand-in plays: the hostaddr
	// or host when it is an IP address. A name has no address here: it is
	// judged only where a weaker sslmode depends on it being loopback, and
	// then refused, as a way in that cannot supply the fact.
	addr, _ := netip.ParseAddr(cmp.Or(b.target.Hostaddr, b.target.Host))
	if addr.IsValid() || core.LoopbackPermit(b.policy, b.target) {
		if err := judge(core.Check{Stage: core.StageAddress, Target: b.target, Addr: addr, AddrText: b.target.Addr()}); err != nil {
			return nil, core.Facts{}, nil, err
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
	facts.Loopback = addr.IsValid() && addr.Unmap().IsLoopback()
	if facts.TLS {
		facts.Pins, facts.PinsErr = b.policy.CurrentPins(ctx) // as a real handshake reads the pin file
	}
	for _, stage := range []core.Stage{core.StageHandshake, core.StageSession} {
		if err := judge(core.Check{Stage: stage, Facts: facts}); err != nil {
			dc.Close()
			return nil, facts, nil, err
		}
	}
	facts.LoopbackPlaintext = core.LoopbackPlaintext(b.policy, facts)
	return dc, facts, audited, nil
}
