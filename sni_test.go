package securepg_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	pglab "github.com/securepg/securepg/lab"
)

// TestSSLSNIZero: sslsni=0 (in the DSN, PGSSLSNI or a service file) sends
// no server name in the ClientHello on both backends (pgx v5.12 sends one
// under verify-full whatever sslsni says), while verify-full still checks
// the certificate's host name; by default the name is sent.
func TestSSLSNIZero(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"securepg", "securepg-pq"} {
		for _, tc := range []struct {
			name, dsn, want string
			env             func(t *testing.T)
		}{
			{"default", "", "localhost", nil},
			{"DSN", "sslsni=0", "", nil},
			{"PGSSLSNI", "", "", func(t *testing.T) { t.Setenv("PGSSLSNI", "0") }},
			{"service file", "service=s", "", func(t *testing.T) { writeService(t, "[s]\nsslsni=0\n") }},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				if tc.env != nil {
					tc.env(t)
				}
				for _, peer := range []struct {
					cert pglab.KeyPair
					ok   bool
				}{{l.Certs.Server, true}, {l.Certs.WrongHost, false}} {
					front, err := pglab.NewSNIFront(l.Addr(), peer.cert.TLS)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { front.Close() })
					db, err := sql.Open(drv, l.at(front, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, tc.dsn))
					if err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					err = db.PingContext(ctx)
					cancel()
					db.Close()
					front.Close()
					if !peer.ok {
						if err == nil {
							t.Fatal("verify-full accepted a certificate for another host")
						}
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					got := front.Received()
					if len(got) == 0 {
						t.Fatal("no ClientHello recorded")
					}
					for _, name := range got {
						if string(name) != tc.want {
							t.Fatalf("the ClientHello named %q, want %q", name, tc.want)
						}
					}
				}
			})
		}
	}
}
