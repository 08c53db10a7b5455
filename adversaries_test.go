package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/securepg/securepg"

	pglab "github.com/securepg/securepg/lab"
)

// TestInjectionAfterSSLResponse is CVE-2021-23222: a man in the middle
// answers 'S' and appends plaintext protocol messages (here
// AuthenticationOk and ReadyForQuery) before the TLS handshake. A client
// that buffered them would take them for the server's answer. Both drivers
// read exactly one byte, so the injected bytes land in the TLS handshake,
// which fails; the client's next bytes are a TLS ClientHello.
func TestInjectionAfterSSLResponse(t *testing.T) {
	eachServer(t, func(t *testing.T, l *lab) {
		inject := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'}
		for _, drv := range []string{"pgx", "pq"} {
			for _, mode := range []string{"require", "verify-full"} {
				t.Run(drv+"/"+mode, func(t *testing.T) {
					isolateEnv(t)
					t.Setenv("SECUREPG_MIN_SSLMODE", mode)
					p, err := pglab.NewInjectProxy(inject)
					if err != nil {
						t.Fatal(err)
					}
					defer p.Close()
					db, err := sql.Open(driverName(drv), l.at(p, "sslmode="+mode, "sslrootcert="+l.Certs.CAFile))
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if err := db.PingContext(ctx); err == nil {
						t.Fatal("connected through an injecting proxy")
					}
					p.Close() // waits for the proxy to finish reading
					got := p.Received()
					if len(got) == 0 {
						t.Fatal("the client sent nothing after the SSLRequest")
					}
					for _, b := range got {
						if len(b) == 0 || b[0] != 0x16 {
							t.Fatalf("after 'S' the client sent %q, want a TLS handshake record", b)
						}
					}
				})
			}
		}
	})
}

// TestCleartextPasswordNeverSent points a strict DSN at a fake server that
// refuses TLS and asks for the password in cleartext.
func TestCleartextPasswordNeverSent(t *testing.T) {
	eachServer(t, func(t *testing.T, l *lab) {
		for _, drv := range []string{"pgx", "pq"} {
			for _, mode := range []string{"require", "verify-ca", "verify-full"} {
				t.Run(drv+"/"+mode, func(t *testing.T) {
					isolateEnv(t)
					t.Setenv("SECUREPG_MIN_SSLMODE", mode)
					srv, err := pglab.NewCleartextServer()
					if err != nil {
						t.Fatal(err)
					}
					defer srv.Close()
					db, err := sql.Open(driverName(drv), l.at(srv, "sslmode="+mode, "sslrootcert="+l.Certs.CAFile))
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					err = db.PingContext(ctx)
					requireReason(t, err, securepg.ReasonTLSNotEstablished)
					srv.Close() // waits for the fake server to finish reading
					for _, m := range srv.Received() {
						if bytes.Contains(m, []byte(l.Password)) {
							t.Fatal("the password reached the fake server")
						}
					}
					if n := len(srv.Received()); n != 0 {
						t.Fatalf("the fake server received %d message(s)", n)
					}
				})
			}
		}
	})
}

// TestImpostorsNeverHearTheStartupMessage: a server whose certificate
// fails verification receives nothing after the handshake — no user name,
// no password — whichever driver, and in audit mode too (audit mode never
// weakens the DSN's own sslmode).
func TestImpostorsNeverHearTheStartupMessage(t *testing.T) {
	eachServer(t, func(t *testing.T, l *lab) {
		for _, drv := range []string{"pgx", "pq"} {
			for _, tc := range []struct {
				name   string
				cert   pglab.KeyPair
				mode   string
				reason string
			}{
				{"self-signed", l.Certs.SelfSigned, "verify-full", securepg.ReasonCertificateUntrusted},
				{"self-signed under verify-ca", l.Certs.SelfSigned, "verify-ca", securepg.ReasonCertificateUntrusted},
				{"wrong host", l.Certs.WrongHost, "verify-full", securepg.ReasonHostnameMismatch},
				{"expired", l.Certs.Expired, "verify-full", securepg.ReasonCertificateExpired},
			} {
				for _, policyMode := range []string{"enforce", "audit"} {
					t.Run(drv+"/"+tc.name+"/"+policyMode, func(t *testing.T) {
						isolateEnv(t)
						t.Setenv("SECUREPG_MIN_SSLMODE", tc.mode)
						t.Setenv("SECUREPG_MODE", policyMode)
						p, err := pglab.NewTLSImpostor(l.Addr(), tc.cert.TLS, 0)
						if err != nil {
							t.Fatal(err)
						}
						defer p.Close()
						db, err := sql.Open(driverName(drv), l.at(p, "sslmode="+tc.mode, "sslrootcert="+l.Certs.CAFile))
						if err != nil {
							t.Fatal(err)
						}
						defer db.Close()
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						requireReason(t, db.PingContext(ctx), tc.reason)
						p.Close() // waits for the impostor to finish reading
						if n := p.FromClient(); n != 0 {
							t.Fatalf("the impostor received %d bytes after the handshake", n)
						}
					})
				}
			}
			// The control: a peer the policy accepts (verify-ca does not check
			// the host name) does hear the startup message, so the counter counts.
			t.Run(drv+"/control", func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
				p, err := pglab.NewTLSImpostor(l.Addr(), l.Certs.WrongHost.TLS, 0)
				if err != nil {
					t.Fatal(err)
				}
				db, err := sql.Open(driverName(drv), l.at(p, "sslmode=verify-ca", "sslrootcert="+l.Certs.CAFile))
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Ping(); err != nil {
					t.Fatal(err)
				}
				db.Close()
				p.Close()
				if p.FromClient() == 0 {
					t.Fatal("the counter saw nothing from an accepted connection")
				}
			})
		}
	})
}

// TestErrorDuringNegotiation is CVE-2024-10977: a man in the middle
// answers the SSLRequest with an error message of its own writing. It is
// not the server's word, so it never reaches the caller, and nothing
// follows it on that socket.
func TestErrorDuringNegotiation(t *testing.T) {
	eachServer(t, func(t *testing.T, l *lab) {
		const forged = "Zq7 your password has expired, log in at evil.example"
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(drv, func(t *testing.T) {
				isolateEnv(t)
				p, err := pglab.NewNegotiationErrorProxy(forged)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				db, err := sql.Open(driverName(drv), l.at(p, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err = db.PingContext(ctx)
				requireReason(t, err, securepg.ReasonTLSNotEstablished)
				if bytes.Contains([]byte(err.Error()), []byte("Zq7")) || bytes.Contains([]byte(err.Error()), []byte("evil")) {
					t.Fatalf("the peer's text reached the caller: %v", err)
				}
				db.Close()
				p.Close()
				if got := p.Received(); len(got) > 0 {
					t.Fatalf("the client went on after the forged error: %q", got)
				}
			})
		}
	})
}
