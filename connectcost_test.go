package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// frontendMessages splits what a client sent after its startup message
// into message types: 'p' password, 'Q' simple query, 'P' parse, 'X'
// terminate, ...
func frontendMessages(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 4 {
		t.Fatalf("no startup message in %d bytes", len(b))
	}
	b = b[binary.BigEndian.Uint32(b):] // the startup message has no type byte
	var types []byte
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint32(b[1:]))
		if n < 4 || 1+n > len(b) {
			t.Fatalf("a truncated %q message", b[0])
		}
		types, b = append(types, b[0]), b[1+n:]
	}
	return types
}

// TestConnectRoundTrips: what a new connection costs on the wire beyond
// the driver's own startup. securepg with pgx sends no query at all; with
// lib/pq at most one, the server's view of its TLS (pg_stat_ssl), and only
// when something reads it: a recording connect span (the suite installs
// an SDK globally), an AfterConnect hook, or WithServerView.
// SECUREPG_FORBID_SUPERUSER adds one on both (the role's facts, one
// query), and nothing when it is off. Counted on the
// plaintext side of a TLS front, on the real server.
func TestConnectRoundTrips(t *testing.T) {
	l := getLab(t)
	quiet := securepg.WithTracerProvider(tracenoop.NewTracerProvider())
	hook := securepg.WithHooks(hooks.Hooks{AfterConnect: func(context.Context, hooks.ConnInfo) error { return nil }})
	forbid := securepg.WithForbidSuperuser(true)
	for _, tc := range []struct {
		name, drv string
		opts      []securepg.Option
		queries   int
	}{
		{"pgx", "pgx", nil, 0},
		{"pgx, hook", "pgx", []securepg.Option{hook}, 0},
		{"pq, recording span", "pq", nil, 1},
		{"pq, nothing reads it", "pq", []securepg.Option{quiet}, 0},
		{"pq, AfterConnect hook", "pq", []securepg.Option{quiet, hook}, 1},
		{"pq, WithServerView", "pq", []securepg.Option{quiet, securepg.WithServerView(true)}, 1},
		// SECUREPG_FORBID_SUPERUSER: one query more (the role's facts).
		{"pgx, forbid superuser", "pgx", []securepg.Option{forbid}, 1},
		{"pq, forbid superuser, nothing reads it", "pq", []securepg.Option{quiet, forbid}, 1},
		{"pq, forbid superuser, recording span", "pq", []securepg.Option{forbid}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			tap, err := pglab.NewTapRelay(l.Addr(), 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			defer tap.Close()
			front, err := pglab.NewTLSFront(tap.Addr(), func() *tls.Certificate { return &l.Certs.Server.TLS })
			if err != nil {
				t.Fatal(err)
			}
			defer front.Close()
			dsn := l.at(front, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
			c, err := securepg.NewConnector(dsn, append([]securepg.Option{withBackend(tc.drv), securepg.WithLogger(discardLogger())}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := c.Connect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			// Each proxy's Close waits for its connections to end; the tap
			// records a connection when it ends.
			front.Close()
			tap.Close()
			got := tap.Received()
			if len(got) != 1 {
				t.Fatalf("%d connections reached the server, want 1", len(got))
			}
			queries := 0
			for _, m := range frontendMessages(t, got[0]) {
				if m == 'Q' || m == 'P' {
					queries++
				}
			}
			if queries != tc.queries {
				t.Fatalf("%d queries on a new connection, want %d (messages %q)", queries, tc.queries, frontendMessages(t, got[0]))
			}
		})
	}
}

// BenchmarkConnect is the churn cost: one new connection (TLS 1.3,
// verify-full, SCRAM) opened and closed per operation on the test lab's
// server, through securepg and through the same driver bare, in the same
// run. No provider is installed.
func BenchmarkConnect(b *testing.B) {
	c := labtest.Shared(b)
	dsn := c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile)
	bare := map[string]func() (driver.Connector, error){
		"pgx": func() (driver.Connector, error) {
			return stdlib.GetDefaultDriver().(driver.DriverContext).OpenConnector(dsn)
		},
		"pq": func() (driver.Connector, error) { return pq.NewConnector(dsn) },
	}
	for _, drv := range []string{"pgx", "pq"} {
		sp, err := securepg.NewConnector(dsn, withBackend(drv), securepg.WithLogger(discardLogger()))
		if err != nil {
			b.Fatal(err)
		}
		bc, err := bare[drv]()
		if err != nil {
			b.Fatal(err)
		}
		for _, db := range []struct {
			name string
			c    driver.Connector
		}{{"bare", bc}, {"securepg", sp}} {
			b.Run("driver="+drv+"/db="+db.name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					conn, err := db.c.Connect(ctx)
					if err != nil {
						b.Fatal(err)
					}
					conn.Close()
				}
			})
		}
	}
}
