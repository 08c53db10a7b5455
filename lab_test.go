package securepg_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	pglab "github.com/securepg/securepg/lab"
)

// lab is the shared server plus the adversarial peers in front of it.
type lab struct {
	*pglab.Cluster
	relay      *pglab.Proxy // a plain TCP relay: the server, with a dial counter
	strip      *pglab.Proxy // answers 'N' and relays plaintext
	selfSigned *pglab.Proxy
	wrongHost  *pglab.Proxy
	expired    *pglab.Proxy
	tls12      *pglab.Proxy // the real certificate, TLS 1.2 at most
	proxies    []*pglab.Proxy
}

var (
	labOnce sync.Once
	theLab  *lab
	labErr  error
)

func getLab(t *testing.T) *lab {
	t.Helper()
	c := pglab.Shared(t)
	labOnce.Do(func() {
		l := &lab{Cluster: c}
		mk := func(p *pglab.Proxy, err error) *pglab.Proxy {
			if err != nil && labErr == nil {
				labErr = err
			}
			if p != nil {
				l.proxies = append(l.proxies, p)
			}
			return p
		}
		up := c.Addr()
		l.relay = mk(pglab.NewRelay(up))
		l.strip = mk(pglab.NewStripProxy(up))
		l.selfSigned = mk(pglab.NewTLSImpostor(up, c.Certs.SelfSigned.TLS, 0))
		l.wrongHost = mk(pglab.NewTLSImpostor(up, c.Certs.WrongHost.TLS, 0))
		l.expired = mk(pglab.NewTLSImpostor(up, c.Certs.Expired.TLS, 0))
		l.tls12 = mk(pglab.NewTLSImpostor(up, c.Certs.Server.TLS, tls.VersionTLS12))
		theLab = l
	})
	if labErr != nil {
		t.Fatal(labErr)
	}
	return theLab
}

// auth is the password role's credentials and database.
func (l *lab) auth() string {
	return "user=" + l.User + " password=" + l.Password + " dbname=" + l.Database
}

// at is a keyword/value DSN for host=localhost on p's port.
func (l *lab) at(p *pglab.Proxy, extra ...string) string {
	return strings.Join(append([]string{"host=localhost", "port=" + p.PortString(), l.auth()}, extra...), " ")
}

// url is a postgres:// DSN for localhost on p's port.
func (l *lab) url(p *pglab.Proxy, query string) string {
	return "postgres://" + l.User + ":" + l.Password + "@localhost:" + p.PortString() + "/" + l.Database + "?" + query
}

// isolateEnv clears the PG* and SECUREPG_* environment for the test.
func isolateEnv(t *testing.T) { pglab.IsolateEnv(t) }

// writeService writes a pg_service.conf and points PGSERVICEFILE at it.
func writeService(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pg_service.conf")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", p)
	return p
}

func itoa(n int) string { return strconv.Itoa(n) }

func sprintf(format string, v any) string { return fmt.Sprintf(format, v) }
