package securepg_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
)

// sslRequestBytes is the 8-byte SSLRequest: what a client sends first
// under sslnegotiation=postgres.
var sslRequestBytes = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// TestDirectTLSToPostgres18: PostgreSQL 17 and later accept TLS from the
// first byte (sslnegotiation=direct, ALPN "postgresql"). Against the real
// PostgreSQL 18, both backends connect verify-full that way: the first
// byte on the wire is a TLS record, not an SSLRequest; the hook, the
// telemetry and the server's pg_stat_ssl all say TLS 1.3, verified. The
// control (sslnegotiation=postgres) shows that the tap tells them apart.
func TestDirectTLSToPostgres18(t *testing.T) {
	l := getLabVersion(t, newestMajor)
	for _, drv := range []string{"pgx", "pq"} {
		for _, negotiation := range []string{"direct", "postgres"} {
			t.Run(drv+"/"+negotiation, func(t *testing.T) {
				isolateEnv(t)
				tap, err := pglab.NewTapRelay(l.Addr(), 64)
				if err != nil {
					t.Fatal(err)
				}
				defer tap.Close()
				s := newSDK(t)
				var info hooks.ConnInfo
				infos := 0
				c, err := securepg.NewConnector(
					l.at(tap, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, "sslnegotiation="+negotiation),
					append(s.opts, withBackend(drv), securepg.WithHooks(hooks.Hooks{
						AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; infos++; return nil },
					}))...)
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				conn, err := db.Conn(ctx)
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				var ssl bool
				var version sql.NullString
				if err := conn.QueryRowContext(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil {
					t.Fatal(err)
				}
				if !ssl || version.String != "TLSv1.3" {
					t.Fatalf("pg_stat_ssl: ssl=%v version=%q, want TLSv1.3", ssl, version.String)
				}
				if infos != 1 || !info.TLS || info.Version != tls.VersionTLS13 || info.Verification != "verify-full" || info.Network != "tcp" {
					t.Fatalf("AfterConnect heard %d time(s): tls=%v version=%#x verification=%q network=%q; want TLS 1.3 verify-full",
						infos, info.TLS, info.Version, info.Verification, info.Network)
				}
				if len(info.PeerCertificates) == 0 || !info.PeerCertificates[0].Equal(l.Certs.Server.Leaf) {
					t.Fatal("AfterConnect does not hold the server's certificate")
				}
				if drv == "pgx" {
					// pgx's own socket: the ALPN the server agreed to.
					err = conn.Raw(func(dc any) error {
						tc, ok := dc.(*stdlib.Conn).Conn().PgConn().Conn().(*tls.Conn)
						if !ok {
							t.Fatalf("pgx socket is %T, not TLS", dc.(*stdlib.Conn).Conn().PgConn().Conn())
						}
						st := tc.ConnectionState()
						want := ""
						if negotiation == "direct" {
							want = "postgresql"
						}
						if st.NegotiatedProtocol != want || st.Version != tls.VersionTLS13 {
							t.Fatalf("ALPN %q version %#x, want %q and TLS 1.3", st.NegotiatedProtocol, st.Version, want)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				conn.Close()
				db.Close()
				spans := s.ended("securepg.connect")
				if len(spans) != 1 {
					t.Fatalf("%d connect spans, want 1", len(spans))
				}
				wantAttrs(t, spanAttrs(spans[0]), map[string]any{
					"tls.established": true, "tls.protocol.version": "1.3",
					"securepg.tls.verification": "verify-full", "securepg.policy.outcome": "allowed",
				})
				tap.Close() // waits for the relayed connections to end
				heads := tap.Received()
				if len(heads) == 0 {
					t.Fatal("nothing went through the tap")
				}
				for _, h := range heads {
					switch {
					case negotiation == "direct" && (len(h) == 0 || h[0] != 0x16):
						t.Fatalf("sslnegotiation=direct, but the client's first bytes were %x, not a TLS handshake record", h)
					case negotiation == "postgres" && !bytes.HasPrefix(h, sslRequestBytes):
						t.Fatalf("sslnegotiation=postgres, but the client's first bytes were %x, not an SSLRequest", h)
					}
				}
			})
		}
	}
}

// TestDirectTLSToPostgres15Fails: PostgreSQL 15 does not speak direct
// TLS. It reads the ClientHello as a startup packet of absurd length and
// hangs up. The connection fails promptly, on both backends, with
// tls_not_established and an error that names sslnegotiation=direct and
// the version that accepts it (not a bare EOF); the client sent nothing
// but the ClientHello (no startup message, no user name, no password in
// plaintext), and never fell back to an SSLRequest or to plaintext.
func TestDirectTLSToPostgres15Fails(t *testing.T) {
	l := getLab(t)
	if l.Major >= 17 {
		t.Fatalf("the system's server is PostgreSQL %d, which speaks direct TLS: this test needs one older than 17", l.Major)
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, mode := range []string{"verify-full", "require"} {
			t.Run(drv+"/"+mode, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", mode)
				t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true") // require with lib/pq: get to the wire
				tap, err := pglab.NewTapRelay(l.Addr(), 1<<16)
				if err != nil {
					t.Fatal(err)
				}
				defer tap.Close()
				var violations []*hooks.Violation
				c, err := securepg.NewConnector(
					l.at(tap, "sslmode="+mode, "sslrootcert="+l.Certs.CAFile, "sslnegotiation=direct"),
					withBackend(drv), securepg.WithLogger(discardLogger()),
					securepg.WithHooks(hooks.Hooks{
						AfterConnect: func(context.Context, hooks.ConnInfo) error {
							t.Error("AfterConnect: a connection was made")
							return nil
						},
						OnViolation: func(_ context.Context, v *hooks.Violation) { violations = append(violations, v) },
					}))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err = db.PingContext(ctx)
				if err == nil {
					t.Fatal("connected to PostgreSQL 15 with sslnegotiation=direct")
				}
				if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					t.Fatalf("the attempt hung until the deadline: %v", err)
				}
				requireReason(t, err, securepg.ReasonTLSNotEstablished)
				if msg := err.Error(); !strings.Contains(msg, "sslnegotiation=direct") || !strings.Contains(msg, "17") || strings.Contains(msg, l.Password) {
					t.Fatalf("err = %q, want one that names sslnegotiation=direct and the version that accepts it", msg)
				}
				if len(violations) != 1 || violations[0].Reason != securepg.ReasonTLSNotEstablished || violations[0].Outcome != "refused" {
					t.Fatalf("OnViolation heard %+v, want one tls_not_established refusal", violations)
				}
				db.Close()
				tap.Close()
				heads := tap.Received()
				if len(heads) != 1 {
					t.Fatalf("%d connection(s) went through the tap, want the one direct attempt", len(heads))
				}
				for _, h := range heads {
					if len(h) == 0 || h[0] != 0x16 {
						t.Fatalf("the client's first bytes were %x, not a TLS handshake record", h)
					}
					if bytes.Contains(h, sslRequestBytes) || bytes.Contains(h, []byte(l.User)) || bytes.Contains(h, []byte(l.Password)) {
						t.Fatal("after the ClientHello the client sent an SSLRequest or its startup message")
					}
				}
			})
		}
	}
}
