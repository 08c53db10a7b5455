package core

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// The dial and the validation of one pgx attempt, as BeforeConnect
// installs them.

// dialCancel dials a query cancellation (PgConn.CancelRequest) of the
// connection made: it sends no credentials, and its TLS handshake is
// verified by the attempt's VerifyConnection again. Its address is judged
// as the connection's was, before the dial.
func (a *pgxAttempts) dialCancel(ctx context.Context, dial pgconn.DialFunc, network, addr string) (net.Conn, error) {
	t := a.live.entry.target
	if refusal, _, _ := CheckAddress(a.c.policy, t, network, addr); refusal != nil {
		return nil, refusal
	}
	conn, err := dial(boundDial(ctx), network, addr)
	if err == nil {
		if refusal, _ := CheckPeer(a.c.policy, t, conn); refusal != nil {
			conn.Close()
			return nil, refusal
		}
	}
	return conn, err
}

// dial makes the next attempt's connection: its address is judged before
// the packet leaves, its credentials resolved before anything is dialed,
// and its peer judged before a byte is sent on it.
func (a *pgxAttempts) dial(ctx context.Context, dial pgconn.DialFunc, direct bool, network, addr string) (net.Conn, error) {
	cur, err := a.next(network, addr)
	if err != nil {
		return nil, err
	}
	refusal, audited, loopback := CheckAddress(a.c.policy, cur.entry.target, network, addr)
	if refusal != nil {
		a.reject(cur, refusal)
		return nil, refusal
	}
	// A provider that refuses (RDS IAM under a weak sslmode) keeps the
	// network quiet.
	if a.st.Creds != nil {
		if cur.creds, err = a.st.Creds(ctx, cur.entry.target); err != nil {
			return nil, err
		}
	}
	conn, err := dial(boundDial(ctx), network, addr)
	if err != nil {
		return conn, err
	}
	// The peer connected to (a DialFunc may dial through a proxy).
	refusal, peerLoopback := CheckPeer(a.c.policy, cur.entry.target, conn)
	if refusal != nil {
		conn.Close()
		a.reject(cur, refusal)
		return nil, refusal
	}
	cur.netAudited, cur.loopback = audited, loopback && peerLoopback
	if cur.entry.auth == nil || direct {
		return conn, err // with direct TLS, no SSLRequest is answered
	}
	return &replyConn{Conn: conn, a: a, cur: cur}, nil
}

// validate runs the configuration's own ValidateConnect (target_session_attrs,
// or code's), which runs SQL on the session: the session stage comes
// first, so that nothing runs as a role the policy refuses. A refusal
// fails this host, as pgx's check would.
func (a *pgxAttempts) validate(ctx context.Context, validate pgconn.ValidateConnectFunc, pc *pgconn.PgConn) error {
	if validate == nil {
		return nil
	}
	if at := a.acceptedFor(pc); at != nil && a.c.policy.ForbidSuperuser {
		if _, _, err := a.c.judgeSession(ctx, pc, at, a.st.Rec); err != nil {
			return err
		}
	}
	err := validate(ctx, pc)
	var np *pgconn.NotPreferredError
	if errors.As(err, &np) {
		a.notPreferred = a.cur
	}
	return err
}
