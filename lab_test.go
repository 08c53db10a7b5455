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

	"github.com/securepg/securepg/internal/pgtest"
	pglab "github.com/securepg/securepg/lab"
)

// lab is the shared server plus the adversarial peers in front of it.
type lab struct {
	*pglab.Cluster
	relay      *pgtest.Proxy // a plain TCP relay: the server, with a dial counter
	strip      *pgtest.Proxy // answers 'N' and relays plaintext
	selfSigned *pgtest.Proxy
	wrongHost  *pgtest.Proxy
	expired    *pgtest.Proxy
	tls12      *pgtest.Proxy // the real certificate, TLS 1.2 at most
	proxies    []*pgtest.Proxy
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
		mk := func(p *pgtest.Proxy, err error) *pgtest.Proxy {
			if err != nil && labErr == nil {
				labErr = err
			}
			if p != nil {
				l.proxies = append(l.proxies, p)
			}
			return p
		}
		up := c.Addr()
		l.relay = mk(pgtest.NewRelay(up))
		l.strip = mk(pgtest.NewStripProxy(up))
		l.selfSigned = mk(pgtest.NewTLSImpostor(up, c.Certs.SelfSigned.TLS, 0))
		l.wrongHost = mk(pgtest.NewTLSImpostor(up, c.Certs.WrongHost.TLS, 0))
		l.expired = mk(pgtest.NewTLSImpostor(up, c.Certs.Expired.TLS, 0))
		l.tls12 = mk(pgtest.NewTLSImpostor(up, c.Certs.Server.TLS, tls.VersionTLS12))
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
func (l *lab) at(p *pgtest.Proxy, extra ...string) string {
	return strings.Join(append([]string{"host=localhost", "port=" + p.PortString(), l.auth()}, extra...), " ")
}

// url is a postgres:// DSN for localhost on p's port.
func (l *lab) url(p *pgtest.Proxy, query string) string {
	return "postgres://" + l.User + ":" + l.Password + "@localhost:" + p.PortString() + "/" + l.Database + "?" + query
}

// isolateEnv clears the PG* and SECUREPG_* environment for the test.
func isolateEnv(t *testing.T) { pgtest.IsolateEnv(t) }

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
