package securepg_test

import (
	"context"
	"database/sql"
	"net"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lib/pq"

	"github.com/securepg/securepg"
)

// synWatch is a TCP listener on a loopback address that nothing serves: it
// tells whether any connection (a SYN that completed its handshake) reached it.
type synWatch struct {
	ln net.Listener
}

func newSYNWatch(t *testing.T, addr string) *synWatch {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return &synWatch{ln: ln}
}

func (w *synWatch) port() string {
	_, p, _ := net.SplitHostPort(w.ln.Addr().String())
	return p
}

// requireNone fails t when a connection reached the listener: it
// connects a sentinel of its own and accepts; the backlog is in order, so
// an earlier connection would be accepted before the sentinel.
func (w *synWatch) requireNone(t *testing.T) {
	t.Helper()
	sentinel, err := net.Dial("tcp", w.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Close()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		from := c.RemoteAddr().String()
		c.Close()
		if from == sentinel.LocalAddr().String() {
			return
		}
		t.Errorf("a connection from %s reached the refused address", from)
	}
}

// TestNetworkJudgedBeforeDial: SECUREPG_ALLOWED_NETWORKS is judged on the
// exact address about to be dialed, before the dial: a listener on
// 127.0.0.2 under a policy allowing only 127.0.0.1/32 accepts no
// connection at all (not merely no byte) on every way in: sql.Open on
// both backends, ConfigurePgx, ConfigurePool, OpenDB,
// NewListener at its (re)connect and NewListenerDialer with pq.DialOpen.
// Each refusal is the *PolicyError network_not_allowed.
func TestNetworkJudgedBeforeDial(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_ALLOWED_NETWORKS", "127.0.0.1/32")
	t.Setenv("SECUREPG_MIN_SSLMODE", "disable")
	w := newSYNWatch(t, "127.0.0.2:0")
	dsn := "host=127.0.0.2 port=" + w.port() + " user=u dbname=d sslmode=disable connect_timeout=5"
	ctx := context.Background()
	quiet := securepg.WithLogger(discardLogger())
	for _, tc := range []struct {
		name    string
		connect func(t *testing.T) error
	}{
		{"sql.Open/pgx", func(t *testing.T) error { return openPing("securepg", dsn) }},
		{"sql.Open/pq", func(t *testing.T) error { return openPing("securepg-pq", dsn) }},
		{"ConfigurePgx", func(t *testing.T) error {
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := securepg.ConfigurePgx(cc, quiet); err != nil {
				t.Fatal(err)
			}
			c, err := pgx.ConnectConfig(ctx, cc)
			if err == nil {
				c.Close(ctx)
			}
			return err
		}},
		{"ConfigurePool", func(t *testing.T) error {
			pc, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := securepg.ConfigurePool(pc, quiet); err != nil {
				t.Fatal(err)
			}
			pool, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			return pool.Ping(ctx)
		}},
		{"OpenDB", func(t *testing.T) error {
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := securepg.OpenDB(cc, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			return db.Ping()
		}},
		{"NewListener", func(t *testing.T) error {
			events := make(chan error, 1)
			lis, err := libpq.NewListener(dsn, time.Hour, time.Hour, func(ev pq.ListenerEventType, err error) {
				if ev == pq.ListenerEventConnectionAttemptFailed {
					select {
					case events <- err:
					default:
					}
				}
			}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			return <-events
		}},
		{"NewListenerDialer", func(t *testing.T) error {
			d, err := libpq.NewListenerDialer(dsn, quiet)
			if err != nil {
				t.Fatal(err)
			}
			c, err := pq.DialOpen(d, d.DSN())
			if err == nil {
				c.Close()
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireReason(t, tc.connect(t), securepg.ReasonNetworkNotAllowed)
			w.requireNone(t)
		})
	}
}

func openPing(driver, dsn string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}
