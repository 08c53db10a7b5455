package securepg_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/securepg/securepg"
)

// deadPort is a loopback port nothing listens on.
func attack10DeadPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

// TestAttack10FallbackMutatedAfterConfigurePgx: ConfigurePgx promises that
// a configuration whose hosts or TLS settings change after it was judged
// fails closed ("change no host or TLS setting after"), and samePlan
// compares the configuration pgx connects with against the judged copy.
// But ConfigurePgx hands the caller the judged copy's own
// *pgconn.FallbackConfig pointers (cc.Fallbacks = h.Fallbacks), so code
// that edits a fallback in place (cc.Fallbacks[0].Host = ...) edits the
// judged plan too: samePlan compares the edited value with itself, and
// pgx dials a host the policy never judged. Here SECUREPG_ALLOWED_HOSTS
// names localhost only; the same configuration judged anew is refused
// (host_not_allowed), the edited one connects to 127.0.0.1.
func TestAttack10FallbackMutatedAfterConfigurePgx(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	dead := attack10DeadPort(t)
	dsn := "host=localhost,localhost port=" + dead + "," + l.relay.PortString() + " " + l.auth() +
		" sslmode=verify-full sslrootcert=" + l.Certs.CAFile

	t.Run("control: the edited configuration judged anew is refused", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_ALLOWED_HOSTS", "localhost")
		cc, err := pgx.ParseConfig("host=localhost,127.0.0.1 port=" + dead + "," + l.relay.PortString() + " " + l.auth() +
			" sslmode=verify-full sslrootcert=" + l.Certs.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		requireReason(t, securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())), securepg.ReasonHostNotAllowed)
	})

	t.Run("ConfigurePgx: a fallback host edited in place", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_ALLOWED_HOSTS", "localhost")
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		if len(cc.Fallbacks) != 1 {
			t.Fatalf("fallbacks: %d", len(cc.Fallbacks))
		}
		cc.Fallbacks[0].Host = "127.0.0.1" // outside SECUREPG_ALLOWED_HOSTS
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			conn.Close(ctx)
			t.Fatalf("connected to %s, a host outside SECUREPG_ALLOWED_HOSTS set after ConfigurePgx judged the configuration", conn.PgConn().Conn().RemoteAddr())
		}
		if !errors.Is(err, securepg.ErrPolicyViolation) {
			t.Fatalf("err = %v, want a policy violation", err)
		}
	})

	t.Run("ConfigurePool: a fallback edited in place to plaintext", func(t *testing.T) {
		isolateEnv(t)
		pc, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePool(pc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		before := l.strip.Accepted()
		pc.ConnConfig.Fallbacks[0].Port = uint16(l.strip.Port())
		pc.ConnConfig.Fallbacks[0].TLSConfig = nil
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		err = pool.Ping(ctx)
		if !errors.Is(err, securepg.ErrPolicyViolation) {
			t.Fatalf("err = %v, want a policy violation", err)
		}
		// The promise of TestConfigurePgx/hosts_changed_after_ConfigurePgx_fail_closed:
		// nothing reaches a host set after ConfigurePgx.
		if n := l.strip.Accepted() - before; n != 0 {
			t.Fatalf("%d connection(s) reached the plaintext host set after ConfigurePool (err: %v)", n, err)
		}
	})
}
