package securepg_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// helloPeer answers the SSLRequest and records the groups and versions
// of each ClientHello, then ends the handshake.
type helloPeer struct {
	ln     net.Listener
	mu     sync.Mutex
	curves [][]tls.CurveID
	vers   [][]uint16
	wg     sync.WaitGroup
}

func newHelloPeer(t *testing.T, cert tls.Certificate) *helloPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &helloPeer{ln: ln}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		p.mu.Lock()
		p.curves = append(p.curves, slices.Clone(h.SupportedCurves))
		p.vers = append(p.vers, slices.Clone(h.SupportedVersions))
		p.mu.Unlock()
		return nil, nil
	}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, make([]byte, 8)); err != nil {
					return
				}
				c.Write([]byte{'S'})
				tls.Server(c, cfg).Handshake()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *helloPeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// TestAttackKexTLSConfigAfterConfigure: under hybrid-pq the client offers
// only the hybrid groups, over TLS 1.3, on every way in. pgx code that
// tunes cc.TLSConfig after ConfigurePgx (the same pointer), or a pool's
// BeforeConnect that tunes its copy, made securepg offer classical groups
// and TLS 1.2: the handshake was still refused afterwards, but the
// classical key share had been offered (and a server that picks it has
// completed a classical key exchange).
func TestAttackKexTLSConfigAfterConfigure(t *testing.T) {
	certs, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tune := func(tc *tls.Config) {
		if tc != nil {
			tc.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
			tc.MinVersion = tls.VersionTLS12
		}
	}
	for _, way := range []string{"ConfigurePgx", "ConfigurePool"} {
		t.Run(way, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			peer := newHelloPeer(t, certs.Server.TLS)
			dsn := "host=localhost port=" + itoa(peer.port()) + " user=u dbname=d sslmode=verify-full sslrootcert=" + certs.CAFile + " connect_timeout=3"
			switch way {
			case "ConfigurePgx":
				cc, err := pgx.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
					t.Fatal(err)
				}
				tune(cc.TLSConfig)
				if c, err := pgx.ConnectConfig(ctx, cc); err == nil {
					c.Close(ctx)
				}
			case "ConfigurePool":
				pc, err := pgxpool.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				if err := securepg.ConfigurePool(pc, securepg.WithLogger(discardLogger())); err != nil {
					t.Fatal(err)
				}
				pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error { tune(cc.TLSConfig); return nil }
				if pool, err := pgxpool.NewWithConfig(ctx, pc); err == nil {
					pool.Ping(ctx)
					pool.Close()
				}
			}
			peer.mu.Lock()
			defer peer.mu.Unlock()
			if len(peer.curves) == 0 {
				t.Fatal("no ClientHello")
			}
			for i := range peer.curves {
				for _, id := range peer.curves[i] {
					if !slices.Contains([]tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024}, id) {
						t.Errorf("ClientHello %d offers the classical group %v under hybrid-pq (offered %v)", i+1, id, peer.curves[i])
					}
				}
				for _, v := range peer.vers[i] {
					if v < tls.VersionTLS13 {
						t.Errorf("ClientHello %d offers %s under hybrid-pq", i+1, tls.VersionName(v))
					}
				}
			}
		})
	}
}

// TestAttackConfigurePgxTLSReplaced: ConfigurePgx says a change to cc's
// TLS settings afterwards makes its connections fail closed; a new
// cc.TLSConfig (non-nil, as before) is dialed and handshaken with.
// securepg still verifies that handshake itself (and, since
// TestAttackKexTLSConfigAfterConfigure's fix, offers what the policy
// demands), so this is the documentation overclaiming, not a bypass.
func TestAttackConfigurePgxTLSReplaced(t *testing.T) {
	certs, err := pglab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	isolateEnv(t)
	peer := newHelloPeer(t, certs.Server.TLS)
	cc, err := pgx.ParseConfig("host=localhost port=" + itoa(peer.port()) + " user=u dbname=d sslmode=verify-full sslrootcert=" + certs.CAFile + " connect_timeout=3")
	if err != nil {
		t.Fatal(err)
	}
	if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
		t.Fatal(err)
	}
	cc.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	if c, err := pgx.ConnectConfig(context.Background(), cc); err == nil {
		c.Close(context.Background())
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if len(peer.curves) != 0 {
		t.Fatalf("a replaced TLS configuration was dialed and handshaken with (%d ClientHellos)", len(peer.curves))
	}
}
