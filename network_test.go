package securepg_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

func newTap(t *testing.T, addr, upstream string) *pglab.Proxy {
	t.Helper()
	tap, err := pglab.NewTapRelayOn(addr, upstream, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	return tap
}

// sent is what clients sent through tap, all connections together; it
// waits for them to end.
func sent(tap *pglab.Proxy) int {
	tap.Close()
	n := 0
	for _, b := range tap.Received() {
		n += len(b)
	}
	return n
}

// TestAllowedNetworks: the address actually connected to is held to
// SECUREPG_ALLOWED_NETWORKS before any byte is sent on it, on both
// backends: a range that excludes 127.0.0.1 refuses localhost (which
// resolves there) and hostaddr=127.0.0.1 with network_not_allowed and
// nothing sent; ranges that include it connect; audit mode reports and
// connects.
func TestAllowedNetworks(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, networks, extra string
			pqOnly                bool
			refused, audit        bool
		}{
			{name: "outside", networks: "10.0.0.0/8,fd00::/8", refused: true},
			{name: "private", networks: "private"},
			{name: "loopback", networks: "loopback"},
			{name: "the address", networks: "127.0.0.1"},
			{name: "hostaddr outside", networks: "192.168.0.0/16", extra: "hostaddr=127.0.0.1", pqOnly: true, refused: true},
			{name: "audit", networks: "10.0.0.0/8", audit: true},
		} {
			if tc.pqOnly && drv != "pq" {
				continue
			}
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_ALLOWED_NETWORKS", tc.networks)
				if tc.audit {
					t.Setenv("SECUREPG_MODE", "audit")
				}
				tap := newTap(t, "127.0.0.1:0", l.Addr())
				heard := &violations{}
				c, err := securepg.NewConnector(l.at(tap, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, tc.extra),
					withBackend(drv), securepg.WithLogger(discardLogger()), heard.option())
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				err = db.Ping()
				db.Close()
				n := sent(tap)
				switch {
				case tc.refused:
					requireReason(t, err, securepg.ReasonNetworkNotAllowed)
					if n != 0 {
						t.Fatalf("%d bytes sent to a refused address", n)
					}
					if !strings.Contains(err.Error(), "127.0.0.1") {
						t.Fatalf("the refusal does not name the address: %v", err)
					}
				case err != nil:
					t.Fatalf("connect: %v", err)
				case tc.audit:
					if heard.String() != "audited:"+securepg.ReasonNetworkNotAllowed {
						t.Fatalf("violations heard %s, want one audited network_not_allowed", heard)
					}
				}
			})
		}
	}
}

// TestAllowedNetworksMultiHost: a multi-host DSN whose first host's
// address is outside the allowed networks: that attempt is refused and
// reported with nothing sent, and the next host, inside them, is used.
// 127.0.0.2 is loopback too; the allowed range is 127.0.0.1/32.
func TestAllowedNetworksMultiHost(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_ALLOWED_NETWORKS", "127.0.0.1/32")
			other := newTap(t, "127.0.0.2:0", l.Addr())
			good := newTap(t, "127.0.0.1:0", l.Addr())
			heard := &violations{}
			dsn := "host=127.0.0.2,127.0.0.1 port=" + other.PortString() + "," + good.PortString() + " " + l.auth() +
				" sslmode=verify-full sslrootcert=" + l.Certs.CAFile
			c, err := securepg.NewConnector(dsn, withBackend(drv), securepg.WithLogger(discardLogger()), heard.option())
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatalf("the allowed host: %v", err)
			}
			if n := sent(other); n != 0 {
				t.Fatalf("%d bytes sent to the host outside the allowed networks", n)
			}
			if heard.String() != "refused:"+securepg.ReasonNetworkNotAllowed || heard.hosts[0] != "127.0.0.2:"+other.PortString() {
				t.Fatalf("violations heard %s at %q, want one refused network_not_allowed at 127.0.0.2:%s", heard, heard.hosts, other.PortString())
			}
		})
	}
}

// TestAllowedHosts: every host the effective configuration names (the
// DSN, PGHOST, a service file) is held to SECUREPG_ALLOWED_HOSTS at
// sql.Open, before anything is dialed; a multi-host DSN with one host
// outside is refused as a whole.
func TestAllowedHosts(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, hosts, dsn string
			env              map[string]string
			refused          bool
		}{
			{name: "exact", hosts: "localhost", dsn: "host=localhost"},
			{name: "pattern", hosts: "*.db.internal,LOCALHOST.", dsn: "host=localhost"},
			{name: "outside", hosts: "*.db.internal", dsn: "host=localhost", refused: true},
			{name: "pattern is not its suffix", hosts: "*.localhost", dsn: "host=localhost", refused: true},
			{name: "one of two outside", hosts: "localhost", dsn: "host=localhost,127.0.0.1", refused: true},
			{name: "PGHOST outside", hosts: "db.internal", env: map[string]string{"PGHOST": "localhost"}, refused: true},
			{name: "service file outside", hosts: "db.internal", dsn: "service=s", refused: true},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				writeService(t, "[s]\nhost=localhost\n")
				t.Setenv("SECUREPG_ALLOWED_HOSTS", tc.hosts)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				tap := newTap(t, "127.0.0.1:0", l.Addr())
				db, err := sql.Open("securepg", strings.TrimSpace(tc.dsn+" port="+tap.PortString()+" "+l.auth()+
					" sslmode=verify-full sslrootcert="+l.Certs.CAFile))
				if tc.refused {
					requireReason(t, err, securepg.ReasonHostNotAllowed)
					if n, err := tap.DialsBefore(); err != nil || n != 0 {
						t.Fatalf("%d connection(s) reached the server (%v)", n, err)
					}
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
