package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"

	"github.com/securepg/securepg/internal/pgtest"
)

// startup is a v3 StartupMessage for user "alice".
var startup = []byte{0, 0, 0, 20, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'a', 'l', 'i', 'c', 'e', 0, 0}

func enforce(min SSLMode) Policy {
	p := DefaultPolicy()
	p.MinSSLMode = min
	return p
}

func TestGuardBlocksPlaintextStartup(t *testing.T) {
	srv, err := pgtest.NewCleartextServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		name  string
		first []byte // sent before the startup message
	}{
		{"startup first", nil},
		{"startup after the server refused TLS", sslRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, rec := WithRecorder(context.Background())
			d := &guardDialer{policy: enforce(ModeRequire)}
			c, err := d.DialContext(ctx, "tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.first != nil {
				if _, err := c.Write(tc.first); err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 1)
				if _, err := c.Read(b); err != nil || b[0] != 'N' {
					t.Fatalf("reply %q, %v", b, err)
				}
			}
			n, err := c.Write(startup)
			var v *Violation
			if n != 0 || !errors.As(err, &v) || !errors.Is(err, errBlocked) || v.Reason != ReasonTLSNotEstablished {
				t.Fatalf("Write = %d, %v; want a blocked write", n, err)
			}
			if g := rec.lastOpenGuard(); g != nil {
				t.Fatal("a blocked socket must be closed")
			}
			if len(srv.Received()) != 0 {
				t.Fatalf("the server received %q", srv.Received())
			}
		})
	}
}

func TestGuardAuditLetsPlaintextThroughAndRecords(t *testing.T) {
	srv, err := pgtest.NewCleartextServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, rec := WithRecorder(context.Background())
	p := enforce(ModeVerifyFull)
	p.Audit = true
	c, err := (&guardDialer{policy: p}).DialContext(ctx, "tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(startup); err != nil {
		t.Fatal(err)
	}
	vs := rec.Violations()
	if len(vs) != 1 || vs[0].Reason != ReasonTLSNotEstablished {
		t.Fatalf("violations = %v", vs)
	}
}

func TestGuardBlocksNonTLSAfterS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 64)
		n, _ := c.Read(b) // the SSLRequest
		c.Write([]byte{'S'})
		m, _ := c.Read(b) // EOF: nothing else may arrive
		got <- n + m
	}()
	c, err := (&guardDialer{policy: enforce(ModeRequire)}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(sslRequest); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil || b[0] != 'S' {
		t.Fatal(err)
	}
	if _, err := c.Write(startup); !errors.Is(err, errBlocked) {
		t.Fatalf("plaintext after 'S': err = %v, want blocked", err)
	}
	if n := <-got; n != len(sslRequest) {
		t.Fatalf("server received %d bytes, want only the %d of the SSLRequest", n, len(sslRequest))
	}
}

// TestSnifferSeesNegotiatedVersion runs real handshakes through a guarded
// socket and compares what the sniffer read off the wire with crypto/tls's
// own state, including a HelloRetryRequest.
func TestSnifferSeesNegotiatedVersion(t *testing.T) {
	certs, err := pgtest.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		server  *tls.Config
		retries int
	}{
		{"TLS 1.3", &tls.Config{}, 0},
		{"TLS 1.2", &tls.Config{MaxVersion: tls.VersionTLS12}, 0},
		{"TLS 1.3 after HelloRetryRequest", &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.server.Certificates = []tls.Certificate{certs.Server.TLS}
			ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.server)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err == nil {
					c.(*tls.Conn).Handshake()
					c.Write([]byte("x"))
					c.Close()
				}
			}()
			raw, err := (&guardDialer{policy: enforce(ModeRequire)}).DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			client := tls.Client(raw, &tls.Config{ServerName: "localhost", RootCAs: rootsOf(t, certs.CAFile)})
			defer client.Close()
			if err := client.Handshake(); err != nil {
				t.Fatal(err)
			}
			g := raw.(*guardConn)
			isTLS, version, cipher, _ := g.tlsView()
			if g.sniff.retries != tc.retries {
				t.Fatalf("sniffer saw %d HelloRetryRequests, want %d", g.sniff.retries, tc.retries)
			}
			cs := client.ConnectionState()
			if !isTLS || version != cs.Version || cipher != cs.CipherSuite {
				t.Fatalf("sniffed tls=%v %s %s; crypto/tls says %s %s", isTLS, TLSVersionName(version),
					tls.CipherSuiteName(cipher), TLSVersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
			}
		})
	}
}

func rootsOf(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	p := DefaultPolicy()
	p.RootCert = file
	p.Sources[EnvSSLRootCert] = "test"
	if err := p.Load(); err != nil {
		t.Fatal(err)
	}
	return p.Roots()
}
