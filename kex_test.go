package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
)

// kexConnect opens one connection on backend with the options given and
// returns the ConnInfo of the connection made, the violations reported
// to OnViolation, and the error of the connect.
func kexConnect(t *testing.T, backend, dsn string, opts ...securepg.Option) (hooks.ConnInfo, []*hooks.Violation, error) {
	t.Helper()
	var mu sync.Mutex
	var info hooks.ConnInfo
	var vs []*hooks.Violation
	opts = append(opts, securepg.WithHooks(hooks.Hooks{
		AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { mu.Lock(); info = ci; mu.Unlock(); return nil },
		OnViolation:  func(_ context.Context, v *hooks.Violation) { mu.Lock(); vs = append(vs, v); mu.Unlock() },
	}))
	c, err := connectorFor(backend, dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = db.PingContext(ctx)
	mu.Lock()
	defer mu.Unlock()
	return info, vs, err
}

// TestKeyExchangeHybridPQ: every connection records its key-exchange
// group on both backends; under SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq a
// TLS front that speaks X25519MLKEM768 (Go's crypto/tls, before the lab's
// PostgreSQL) is allowed with that group, and the lab's PostgreSQL alone
// (OpenSSL older than 3.5: classical groups only) is refused with
// key_exchange_classical; audit mode connects to it and reports.
func TestKeyExchangeHybridPQ(t *testing.T) {
	l := getLab(t)
	front := hybridFront(t, l)
	roots := "sslrootcert=" + l.Certs.CAFile
	direct := "host=localhost port=" + itoa(l.Port) + " " + l.auth() + " sslmode=verify-full " + roots
	for _, backend := range []string{"pgx", "pq"} {
		t.Run(backend+"/front", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			info, _, err := kexConnect(t, backend, l.at(front, "sslmode=verify-full", roots))
			if err != nil {
				t.Fatalf("hybrid-pq through the front: %v", err)
			}
			if info.CurveID != tls.X25519MLKEM768 || !info.HybridPQ || info.Version != tls.VersionTLS13 {
				t.Fatalf("ConnInfo: group %v hybrid %v version %x, want X25519MLKEM768, hybrid, TLS 1.3", info.CurveID, info.HybridPQ, info.Version)
			}
		})
		t.Run(backend+"/server-alone", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			_, _, err := kexConnect(t, backend, direct)
			var pe *securepg.PolicyError
			if !errors.As(err, &pe) || pe.Reason != securepg.ReasonKeyExchangeClassical || !errors.Is(err, securepg.ErrPolicyViolation) {
				t.Fatalf("hybrid-pq against a classical-only server: %v, want %s", err, securepg.ReasonKeyExchangeClassical)
			}
			if want := "ssl_groups"; !strings.Contains(pe.Fix, want) {
				t.Fatalf("the fix %q does not name %s", pe.Fix, want)
			}
		})
		t.Run(backend+"/any", func(t *testing.T) {
			isolateEnv(t)
			info, vs, err := kexConnect(t, backend, direct)
			if err != nil {
				t.Fatal(err)
			}
			if info.CurveID == 0 || info.HybridPQ || len(vs) != 0 {
				t.Fatalf("default policy against the lab's server: group %v hybrid %v violations %v, want a classical group and none", info.CurveID, info.HybridPQ, vs)
			}
		})
		t.Run(backend+"/audit", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			t.Setenv("SECUREPG_MODE", "audit")
			info, vs, err := kexConnect(t, backend, direct)
			if err != nil {
				t.Fatalf("audit mode refused: %v", err)
			}
			if len(vs) != 1 || vs[0].Reason != securepg.ReasonKeyExchangeClassical || vs[0].Outcome != "audited" || vs[0].Got != info.CurveID.String() {
				t.Fatalf("audit mode reported %+v for group %v, want one audited %s naming the group", vs, info.CurveID, securepg.ReasonKeyExchangeClassical)
			}
		})
	}
	front.Close()
	// Every connection through the front was made under hybrid-pq: the
	// client offered the hybrid groups alone.
	got := front.Received()
	if len(got) < 2 {
		t.Fatalf("the front saw %d handshakes", len(got))
	}
	for _, g := range got {
		if string(g) != "X25519MLKEM768 offered X25519MLKEM768,SecP256r1MLKEM768,SecP384r1MLKEM1024" {
			t.Fatalf("the front saw %q, want X25519MLKEM768 negotiated and only the hybrid groups offered", g)
		}
	}
}

// TestKeyExchangeTelemetry: the connect span carries tls.curve and
// securepg.tls.key_exchange, and securepg.tls.connections has tls.curve,
// on both backends: X25519MLKEM768 (hybrid-pq) through the front, a
// classical group from the lab's PostgreSQL.
func TestKeyExchangeTelemetry(t *testing.T) {
	l := getLab(t)
	front := hybridFront(t, l)
	for _, backend := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name  string
			peer  *pglab.Proxy
			group string
			kind  string
		}{{"front", front, "X25519MLKEM768", "hybrid-pq"}, {"server", l.relay, "", "classical"}} {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				s := newSDK(t)
				s.open(t, l.at(tc.peer, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), backend)
				spans := s.ended("securepg.connect")
				if len(spans) != 1 {
					t.Fatalf("%d connect spans", len(spans))
				}
				a := spanAttrs(spans[0])
				group := a["tls.curve"].AsString()
				if group == "" || tc.group != "" && group != tc.group || a["securepg.tls.key_exchange"].AsString() != tc.kind {
					t.Fatalf("tls.curve %q, securepg.tls.key_exchange %q; want %q, %s", group, a["securepg.tls.key_exchange"].AsString(), tc.group, tc.kind)
				}
				if n := sumInt(t, s.metrics(t)["securepg.tls.connections"], map[string]string{"tls.curve": group}); n != 1 {
					t.Fatalf("securepg.tls.connections{tls.curve=%s} = %d", group, n)
				}
			})
		}
	}
}

// TestKeyExchangeTLS12: a TLS 1.2 server (which names its group only after
// its certificate) is judged with the group it negotiated: under hybrid-pq
// it is refused with key_exchange_classical (the client offers TLS 1.3
// alone), and audit mode reports the classical group by name, on both
// backends.
func TestKeyExchangeTLS12(t *testing.T) {
	l := getLab(t)
	dsn := l.at(l.tls12, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
	for _, backend := range []string{"pgx", "pq"} {
		t.Run(backend, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			_, _, err := kexConnect(t, backend, dsn)
			requireReason(t, err, securepg.ReasonKeyExchangeClassical)
			t.Setenv("SECUREPG_MODE", "audit")
			info, vs, err := kexConnect(t, backend, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if info.Version != tls.VersionTLS12 || info.CurveID == 0 || info.HybridPQ {
				t.Fatalf("ConnInfo: version %x group %v", info.Version, info.CurveID)
			}
			if len(vs) != 1 || vs[0].Reason != securepg.ReasonKeyExchangeClassical || vs[0].Got != info.CurveID.String() {
				t.Fatalf("audited %+v, want one naming %v", vs, info.CurveID)
			}
		})
	}
}

// TestKeyExchangeNativePgx: pgx used directly (ConfigurePgx,
// ConfigurePool) and a lib/pq listener's dialer refuse a classical-only
// server under hybrid-pq with key_exchange_classical, and connect
// through the hybrid front.
func TestKeyExchangeNativePgx(t *testing.T) {
	l := getLab(t)
	front := hybridFront(t, l)
	roots := "sslrootcert=" + l.Certs.CAFile
	direct := "host=localhost port=" + itoa(l.Port) + " " + l.auth() + " sslmode=verify-full " + roots
	for _, way := range pinWays() {
		if strings.HasPrefix(way.name, "sql.Open") {
			continue // TestKeyExchangeHybridPQ
		}
		t.Run(way.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			requireReason(t, way.connect(t, direct), securepg.ReasonKeyExchangeClassical)
			if err := way.connect(t, l.at(front, "sslmode=verify-full", roots)); err != nil {
				t.Fatalf("through the front: %v", err)
			}
		})
	}
}

// hybridFront is a TLS front (Go's crypto/tls, X25519MLKEM768) before the
// lab's PostgreSQL with the lab's certificate, closed with t.
func hybridFront(t *testing.T, l *lab) *pglab.Proxy {
	t.Helper()
	front, err := pglab.NewHybridFront(l.Addr(), l.Certs.Server.TLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	return front
}
