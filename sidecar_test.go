package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/lib/pq"

	"github.com/securepg/securepg"
)

// TestAllowedHostsSocketDirectory: with unix sockets allowed,
// SECUREPG_ALLOWED_HOSTS holds the socket directory as host= writes it:
// a directory it lists connects, one it does not is refused at sql.Open
// (host_not_allowed), on both backends.
func TestAllowedHostsSocketDirectory(t *testing.T) {
	l := getLab(t)
	dsn := "host=" + l.SocketDir + " port=" + itoa(l.Port) + " user=" + l.User + " dbname=" + l.Database
	for _, drv := range []string{"securepg", "securepg-pq"} {
		for _, tc := range []struct {
			name, hosts string
			refused     bool
		}{
			{name: "listed", hosts: "db.internal," + l.SocketDir + "/"},
			{name: "not listed", hosts: "localhost,/var/run/postgresql", refused: true},
			{name: "names only", hosts: "*.internal", refused: true},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_ALLOW_UNIX_SOCKET", "true")
				t.Setenv("SECUREPG_ALLOWED_HOSTS", tc.hosts)
				db, err := sql.Open(drv, dsn)
				if tc.refused {
					requireReason(t, err, securepg.ReasonHostNotAllowed)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if err := db.Ping(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestLoopbackPlaintext: sslmode=disable to the lab server on 127.0.0.1
// under the default minimum (verify-full). With
// SECUREPG_ALLOW_LOOPBACK_PLAINTEXT=true and SCRAM accepted without
// channel binding it connects, in plaintext (pg_stat_ssl); without the
// setting, or with the default password protection (a password over
// plaintext cannot be bound), or to an address outside loopback, it is
// refused at sql.Open. Both backends.
func TestLoopbackPlaintext(t *testing.T) {
	l := getLab(t)
	at := func(host string) string {
		return "host=" + host + " port=" + itoa(l.Port) + " " + l.auth() + " sslmode=disable"
	}
	for _, drv := range []string{"securepg", "securepg-pq"} {
		for _, tc := range []struct {
			name, dsn string
			env       map[string]string
			want      string // the refusal's reason, "" connects
		}{
			{name: "allowed", dsn: at("127.0.0.1"), env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "scram"}},
			// The sidecar recipe: a local proxy (an auth proxy, a pooler
			// sidecar) on loopback that carries the session onwards.
			{name: "through a loopback proxy", dsn: "host=127.0.0.1 port=" + l.relay.PortString() + " " + l.auth() + " sslmode=disable",
				env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "scram"}},
			{name: "without the setting", dsn: at("127.0.0.1"), env: map[string]string{"SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "scram"}, want: securepg.ReasonTLSDisabled},
			{name: "password protection", dsn: at("127.0.0.1"), env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true"}, want: securepg.ReasonPasswordUnverifiedServer},
			{name: "address outside loopback", dsn: at("10.0.0.1"), env: map[string]string{"SECUREPG_ALLOW_LOOPBACK_PLAINTEXT": "true", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "scram"}, want: securepg.ReasonTLSDisabled},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				db, err := sql.Open(drv, tc.dsn)
				if tc.want != "" {
					requireReason(t, err, tc.want)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var ssl bool
				if err := db.QueryRow(sslQuery).Scan(&ssl); err != nil {
					t.Fatal(err)
				}
				if ssl {
					t.Fatal("pg_stat_ssl says TLS, want the plaintext the DSN asked for")
				}
			})
		}
	}
}

// errDialed stands for the network: a DialFunc that records the dial and
// sends nothing.
var errDialed = errors.New("test: the dial was attempted")

// TestLoopbackPlaintextResolved: a host name is judged on the addresses
// it resolves to, before the dial (pgx's LookupFunc set in code): one
// that resolves to 10.0.0.1 is refused without the DialFunc being called;
// one that resolves to 127.0.0.1 connects to the lab server in plaintext.
func TestLoopbackPlaintextResolved(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, addr string
		refused    bool
	}{
		{name: "not loopback", addr: "10.0.0.1", refused: true},
		{name: "loopback", addr: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			cc, err := pgx.ParseConfig("host=sidecar.invalid port=" + itoa(l.Port) + " " + l.auth() + " sslmode=disable")
			if err != nil {
				t.Fatal(err)
			}
			cc.LookupFunc = func(context.Context, string) ([]string, error) { return []string{tc.addr}, nil }
			var dialed []string
			var d net.Dialer
			cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialed = append(dialed, addr)
				if !strings.HasPrefix(addr, "127.0.0.1:") {
					return nil, errDialed // never onto the network
				}
				return d.DialContext(ctx, network, addr)
			}
			if err := securepg.ConfigurePgx(cc, securepg.WithAllowLoopbackPlaintext(true), securepg.WithAllowUnverifiedPassword("scram"),
				securepg.WithLogger(discardLogger())); err != nil {
				t.Fatal(err)
			}
			c, err := pgx.ConnectConfig(ctx, cc)
			if tc.refused {
				requireReason(t, err, securepg.ReasonTLSDisabled)
				if len(dialed) != 0 {
					t.Fatalf("dialed %q", dialed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			var ssl bool
			if err := c.QueryRow(ctx, sslQuery).Scan(&ssl); err != nil || ssl {
				t.Fatalf("ssl=%v err=%v, want plaintext", ssl, err)
			}
		})
	}
}

// TestLoopbackPlaintextListener: lib/pq's listener under the setting
// connects to 127.0.0.1 in plaintext and receives a notification;
// without it, NewListener refuses the DSN.
func TestLoopbackPlaintextListener(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "scram")
	dsn := "host=127.0.0.1 port=" + itoa(l.Port) + " " + l.auth() + " sslmode=disable"
	_, err := libpq.NewListener(dsn, 0, 0, nil, securepg.WithLogger(discardLogger()))
	requireReason(t, err, securepg.ReasonTLSDisabled)

	t.Setenv("SECUREPG_ALLOW_LOOPBACK_PLAINTEXT", "true")
	d, err := libpq.NewListenerDialer(dsn, securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	lis := pq.NewDialListener(d, d.DSN(), 1, 1, nil)
	defer lis.Close()
	if err := lis.Listen("securepg_sidecar"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("securepg-pq", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("NOTIFY securepg_sidecar, 'hi'"); err != nil {
		t.Fatal(err)
	}
	if n := <-lis.Notify; n == nil || n.Extra != "hi" {
		t.Fatalf("notification %+v", n)
	}
}

// TestLoopbackPlaintextSpan: the connect span of a connection that only
// SECUREPG_ALLOW_LOOPBACK_PLAINTEXT lets through says so
// (securepg.loopback_plaintext=true, with tls.established=false); one at
// the minimum, to the same loopback server, carries no such mark.
func TestLoopbackPlaintextSpan(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, dsn string
			marked    bool
		}{
			{name: "plaintext", dsn: "host=127.0.0.1 port=" + itoa(l.Port) + " " + l.auth() + " sslmode=disable", marked: true},
			{name: "verified", dsn: l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_ALLOW_LOOPBACK_PLAINTEXT", "true")
				t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "scram")
				s := newSDK(t)
				s.open(t, tc.dsn, drv)
				spans := s.ended("securepg.connect")
				if len(spans) != 1 {
					t.Fatalf("%d connect spans", len(spans))
				}
				attrs := spanAttrs(spans[0])
				if !tc.marked {
					if v, ok := attrs["securepg.loopback_plaintext"]; ok {
						t.Fatalf("securepg.loopback_plaintext=%v on a verified connection", v.AsInterface())
					}
					return
				}
				wantAttrs(t, attrs, map[string]any{"securepg.loopback_plaintext": true, "tls.established": false})
			})
		}
	}
}

// TestLoopbackPlaintextPassfile: a password that only the passfile holds
// (lib/pq reads it at connect time, pgx at sql.Open) is held to the
// password protection on loopback plaintext too: under the default grade
// pgx's is refused at sql.Open, lib/pq's at the connect (the watch refuses
// the server's SCRAM request before lib/pq answers); accepted with
// SECUREPG_ALLOW_UNVERIFIED_PASSWORD=scram.
func TestLoopbackPlaintextPassfile(t *testing.T) {
	l := getLab(t)
	dsn := "host=127.0.0.1 port=" + itoa(l.Port) + " user=" + l.User + " dbname=" + l.Database + " sslmode=disable"
	for _, drv := range []string{"securepg", "securepg-pq"} {
		for _, grade := range []string{"false", "scram"} {
			t.Run(drv+"/"+grade, func(t *testing.T) {
				isolateEnv(t)
				pass := filepath.Join(t.TempDir(), "pgpass")
				if err := os.WriteFile(pass, []byte("127.0.0.1:"+itoa(l.Port)+":*:"+l.User+":"+l.Password+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("PGPASSFILE", pass)
				t.Setenv("SECUREPG_ALLOW_LOOPBACK_PLAINTEXT", "true")
				t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", grade)
				err := openPing(drv, dsn)
				if grade == "scram" {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
			})
		}
	}
}
