package securepg

import (
	"context"
	"database/sql/driver"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/internal/core"
)

// backend is an underlying driver as a connector uses it: connect opens one
// connection and validates it (ctx carries the core.Recorder).
type backend interface {
	connect(ctx context.Context, rec *core.Recorder) (driver.Conn, core.Facts, error)
	// native reports that conns go to database/sql as they are (pgx,
	// observed through its tracer); otherwise securepg wraps them.
	native() bool
}

type pgxBackend struct {
	cfg   *core.PgxConfig
	inner driver.Connector
}

func (b *pgxBackend) native() bool { return true }

func (b *pgxBackend) connect(ctx context.Context, rec *core.Recorder) (driver.Conn, core.Facts, error) {
	dc, err := b.inner.Connect(ctx)
	if err != nil {
		return nil, core.Facts{}, err
	}
	sc := dc.(*stdlib.Conn)
	facts, err := b.cfg.ValidatePgx(sc, rec)
	if err != nil {
		sc.Close()
		return nil, facts, err
	}
	return sc, facts, nil
}

type pqBackend struct {
	cfg   *core.PQConfig
	inner driver.Connector
}

func (b *pqBackend) native() bool { return false }

func (b *pqBackend) connect(ctx context.Context, rec *core.Recorder) (driver.Conn, core.Facts, error) {
	inner := b.inner
	if _, _, ok := core.CredentialsFrom(ctx); ok {
		// lib/pq's connector has fixed credentials: one for these.
		c, err := b.cfg.Connector(ctx)
		if err != nil {
			return nil, core.Facts{}, err
		}
		inner = c
	}
	dc, err := inner.Connect(ctx)
	if err != nil {
		return nil, core.Facts{}, err
	}
	facts, err := b.cfg.ValidatePQ(ctx, dc, rec)
	if err != nil {
		dc.Close()
		return nil, facts, err
	}
	return dc, facts, nil
}

// mockBackend serves conns from a registered stand-in (sqlmocktest), with
// simulated TLS facts validated like real ones.
type mockBackend struct {
	mock   core.Mock
	policy core.Policy
	target core.Target // the DSN's first host, which the mock stands in for
}

func (b *mockBackend) native() bool { return false }

func (b *mockBackend) connect(ctx context.Context, rec *core.Recorder) (driver.Conn, core.Facts, error) {
	dc, facts, err := b.mock.Connect(ctx, b.target)
	if err != nil {
		return nil, facts, err
	}
	if err := core.ValidateFacts(b.policy, facts, rec); err != nil {
		dc.Close()
		return nil, facts, err
	}
	return dc, facts, nil
}
