package securepg

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/internal/core"
)

// backend is an underlying driver as a connector uses it: connect opens
// one connection, resolving each host's credentials with creds, and
// returns it with its validated facts and the violations audit mode let
// through.
type backend interface {
	connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error)
	// native reports that conns go to database/sql as they are (pgx,
	// observed through its tracer); otherwise securepg wraps them.
	native() bool
}

type pgxBackend struct {
	cfg   *core.PgxConfig
	inner driver.Connector
}

func (b *pgxBackend) native() bool { return true }

func (b *pgxBackend) connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	ctx = core.WithConnectState(ctx, &core.ConnectState{Rec: rec, Creds: creds})
	dc, err := b.inner.Connect(ctx)
	if err != nil {
		return nil, core.Facts{}, nil, pgxError(err)
	}
	sc := dc.(*stdlib.Conn)
	facts, audited, err := b.cfg.Finish(sc, rec)
	if err != nil {
		sc.Close()
		return nil, facts, nil, err
	}
	return sc, facts, audited, nil
}

// connectError replaces pgx's *pgconn.ConnectError, whose public Config
// field holds the password: reflective loggers and encoders walk it. The
// text and the causes (errors.As finds *pgconn.PgError) are kept.
type connectError struct {
	msg string
	err error
}

func (e *connectError) Error() string { return e.msg }
func (e *connectError) Unwrap() error { return e.err }

func pgxError(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return &connectError{msg: err.Error(), err: ce.Unwrap()}
	}
	return err
}

type pqBackend struct {
	cfg *core.PQConfig
}

func (b *pqBackend) native() bool { return false }

func (b *pqBackend) connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	return b.cfg.Connect(ctx, creds, rec)
}

// mockBackend serves conns from a registered stand-in (sqlmocktest), with
// simulated TLS facts judged exactly like real ones.
type mockBackend struct {
	mock   core.Mock
	policy core.Policy
	target core.Target // the DSN's first host, which the mock stands in for
}

func (b *mockBackend) native() bool { return false }

func (b *mockBackend) connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	if _, err := creds(ctx, b.target); err != nil {
		return nil, core.Facts{}, nil, err
	}
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
