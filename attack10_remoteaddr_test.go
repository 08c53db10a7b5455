package securepg_test

import (
	"context"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg"
)

// attack10NoAddrConn is a connection whose RemoteAddr is nil, as some
// tunnelling dialers' connections report it.
type attack10NoAddrConn struct{ net.Conn }

func (attack10NoAddrConn) RemoteAddr() net.Addr { return nil }

// TestAttack10DialerWithoutRemoteAddr: a pgx configuration's own DialFunc
// (OpenDB, ConfigurePgx keep it) that returns a connection without a
// remote address. securepg judges the socket's peer (CheckPeer) by
// calling RemoteAddr().String() on whatever came back: a nil address
// panics inside pgx's connect, on the caller's goroutine, instead of
// failing the attempt closed.
func TestAttack10DialerWithoutRemoteAddr(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	cc, err := pgx.ParseConfig(verifiedDSN(l.Cluster))
	if err != nil {
		t.Fatal(err)
	}
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return attack10NoAddrConn{c}, nil
	}
	db, err := securepg.OpenDB(cc, securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// No network rule applies: the connection is judged as no address,
	// and made.
	if err := pingUnpanicked(t, db, "a dialer's connection without a remote address"); err != nil {
		t.Fatal(err)
	}
}
