package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// startPooler starts a PgBouncer in front of the shared cluster for the
// test. Without pgbouncer installed the test fails under CI=true.
func startPooler(t *testing.T, l *lab, cfg pglab.PgBouncerConfig) *pglab.PgBouncer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := pglab.StartPgBouncer(ctx, l.Cluster, cfg)
	if errors.Is(err, pglab.ErrNoPgBouncer) {
		labtest.Unavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// pooledConn opens one connection through securepg to dsn with drv, and
// returns what AfterConnect heard and the span's attributes, with the
// connection (closed at the end of the test).
func pooledConn(t *testing.T, dsn, drv string) (hooks.ConnInfo, *sql.Conn, map[string]any, error) {
	t.Helper()
	s := newSDK(t)
	var info hooks.ConnInfo
	heard := false
	c, err := securepg.NewConnector(dsn, append(s.opts, withBackend(drv), securepg.WithHooks(hooks.Hooks{
		AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info, heard = ci, true; return nil },
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return info, nil, nil, err
	}
	t.Cleanup(func() { conn.Close() })
	if !heard {
		t.Fatal("AfterConnect was not called for a new connection")
	}
	spans := s.ended("securepg.connect")
	if len(spans) != 1 {
		t.Fatalf("%d connect spans, want 1", len(spans))
	}
	attrs := map[string]any{}
	for k, v := range spanAttrs(spans[0]) {
		attrs[k] = v.AsInterface()
	}
	return info, conn, attrs, nil
}

// TestPoolerVerifyFull: through a PgBouncer that terminates TLS, both
// backends verify the pooler's certificate (not the server's), and with
// lib/pq the server's view is labelled as the pooler's connection.
func TestPoolerVerifyFull(t *testing.T) {
	l := getLab(t)
	for _, serverTLS := range []string{"verify-full", "disable"} {
		b := startPooler(t, l, pglab.PgBouncerConfig{ServerTLSMode: serverTLS})
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(serverTLS+"/"+drv, func(t *testing.T) {
				isolateEnv(t)
				info, conn, attrs, err := pooledConn(t, b.DSN("sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), drv)
				if err != nil {
					t.Fatal(err)
				}
				// The leg securepg can see: TLS to the pooler, verified.
				if !info.TLS || info.Verification != "verify-full" || info.Port != b.Port {
					t.Fatalf("conn info %+v", info)
				}
				if len(info.PeerCertificates) == 0 || info.PeerCertificates[0].Subject.CommonName != pglab.PgBouncerCN {
					t.Fatalf("peer certificate is not the pooler's: %v", info.PeerCertificates)
				}
				if attrs["tls.established"] != true || attrs["securepg.tls.verification"] != "verify-full" {
					t.Fatalf("span %v", attrs)
				}
				// The session really is the server's, through the pooler.
				var one int
				if err := conn.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
					t.Fatalf("query through the pooler: %v %d", err, one)
				}
				var ssl bool
				if err := conn.QueryRowContext(context.Background(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
					t.Fatal(err)
				}
				if ssl != (serverTLS != "disable") {
					t.Fatalf("the pooler's leg: pg_stat_ssl.ssl = %v with server_tls_sslmode=%s", ssl, serverTLS)
				}
				if drv == "pgx" {
					// No validation round trip: nothing about the server's side.
					if info.ServerSSL != nil || info.ServerViaPooler || attrs["securepg.server.ssl"] != nil || attrs["securepg.server.via_pooler"] != nil {
						t.Fatalf("pgx reports a server view: %+v %v", info, attrs)
					}
					return
				}
				// lib/pq: the validation query answered from the pooler's
				// backend, and the report says so.
				if info.ServerSSL == nil || *info.ServerSSL != ssl || !info.ServerViaPooler {
					t.Fatalf("ServerSSL %v, ServerViaPooler %v; want %v behind a pooler", info.ServerSSL, info.ServerViaPooler, ssl)
				}
				if attrs["securepg.server.ssl"] != ssl || attrs["securepg.server.via_pooler"] != true {
					t.Fatalf("span %v", attrs)
				}
			})
		}
	}
}

// TestPoolerImpostor: a pooler whose certificate the CA did not sign, or
// that names another host, is refused like any server.
func TestPoolerImpostor(t *testing.T) {
	l := getLab(t)
	for _, tc := range []struct {
		name, reason string
		cert         pglab.KeyPair
	}{
		{"self-signed", securepg.ReasonCertificateUntrusted, l.Certs.SelfSigned},
		{"wrong host", securepg.ReasonHostnameMismatch, l.Certs.WrongHost},
	} {
		b := startPooler(t, l, pglab.PgBouncerConfig{Cert: &tc.cert})
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(tc.name+"/"+drv, func(t *testing.T) {
				isolateEnv(t)
				c, err := securepg.NewConnector(b.DSN("sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), withBackend(drv), securepg.WithLogger(discardLogger()))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				requireReason(t, db.PingContext(ctx), tc.reason)
			})
		}
	}
}

// TestPoolerNotClaimedDirect: straight to the server, and through a TCP
// relay that leaves TLS end to end, the server's view is this
// connection's, and nothing claims a pooler.
func TestPoolerNotClaimedDirect(t *testing.T) {
	l := getLab(t)
	for _, tc := range []struct{ name, dsn string }{
		{"direct", l.DSN("sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)},
		{"tcp relay", l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			info, _, attrs, err := pooledConn(t, tc.dsn, "pq")
			if err != nil {
				t.Fatal(err)
			}
			if !info.TLS || info.Verification != "verify-full" || info.ServerSSL == nil || !*info.ServerSSL || info.ServerViaPooler {
				t.Fatalf("conn info %+v (ServerSSL %v)", info, info.ServerSSL)
			}
			if attrs["securepg.server.ssl"] != true || attrs["securepg.server.via_pooler"] != false {
				t.Fatalf("span %v", attrs)
			}
		})
	}
}

// TestPoolerPasswordProtection: PgBouncer (1.18, Debian 12's) offers its
// clients SCRAM-SHA-256 without channel binding, so under a policy that
// lets the pooler go unverified (require) the password protection keeps
// the password from it: pgx ends the login, lib/pq is refused at
// sql.Open. Verifying the pooler (TestPoolerVerifyFull) is the fix.
func TestPoolerPasswordProtection(t *testing.T) {
	l := getLab(t)
	b := startPooler(t, l, pglab.PgBouncerConfig{})
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			c, err := securepg.NewConnector(b.DSN("sslmode=require"), withBackend(drv), securepg.WithLogger(discardLogger()))
			if drv == "pq" {
				requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			requireReason(t, db.PingContext(ctx), securepg.ReasonPasswordUnverifiedServer)
		})
	}
}

// TestPoolerTransactionMode: with transaction pooling, pgx works with
// default_query_exec_mode=exec as its documentation advises (securepg
// lets the setting through), queries with arguments on both backends
// succeed across transactions, and lib/pq's report still names the pooler.
func TestPoolerTransactionMode(t *testing.T) {
	l := getLab(t)
	b := startPooler(t, l, pglab.PgBouncerConfig{PoolMode: "transaction"})
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			extra := []string{"sslmode=verify-full", "sslrootcert=" + l.Certs.CAFile}
			if drv == "pgx" {
				extra = append(extra, "default_query_exec_mode=exec")
			}
			info, conn, _, err := pooledConn(t, b.DSN(extra...), drv)
			if err != nil {
				t.Fatal(err)
			}
			if !info.TLS || info.Verification != "verify-full" || drv == "pq" && !info.ServerViaPooler {
				t.Fatalf("conn info %+v", info)
			}
			for i := range 5 {
				var got int
				if err := conn.QueryRowContext(context.Background(), "SELECT $1::int + 1", i).Scan(&got); err != nil || got != i+1 {
					t.Fatalf("query %d through transaction pooling: %v %d", i, err, got)
				}
			}
		})
	}
}
