package securepg_test

import (
	"crypto/tls"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/securepg/securepg/libpq"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// lab is a shared server plus the adversarial peers in front of it.
type lab struct {
	*pglab.Cluster
	name       string       // "pg15", "pg18": the server's major version
	relay      *pglab.Proxy // a plain TCP relay: the server, with a dial counter
	strip      *pglab.Proxy // answers 'N' and relays plaintext
	selfSigned *pglab.Proxy
	wrongHost  *pglab.Proxy
	expired    *pglab.Proxy
	tls12      *pglab.Proxy // the real certificate, TLS 1.2 at most
	proxies    []*pglab.Proxy
}

// labSlot is one server's lab, made on first use.
type labSlot struct {
	once sync.Once
	l    *lab
	err  error
}

var (
	systemLab labSlot              // the system's server (Debian's PostgreSQL 15)
	labsMu    sync.Mutex           // guards majorLabs
	majorLabs = map[int]*labSlot{} // other versions, by major
)

// newestMajor is the PostgreSQL that the lab runs beside the system's.
const newestMajor = 18

// getLab is the lab around the system's server (labtest.Shared).
func getLab(t *testing.T) *lab {
	t.Helper()
	return systemLab.get(t, labtest.Shared(t))
}

// getLabVersion is the lab around the shared server of a major version
// (labtest.SharedVersion): under CI=true a missing server fails t.
func getLabVersion(t *testing.T, major int) *lab {
	t.Helper()
	c := labtest.SharedVersion(t, major)
	labsMu.Lock()
	s := majorLabs[major]
	if s == nil {
		s = &labSlot{}
		majorLabs[major] = s
	}
	labsMu.Unlock()
	return s.get(t, c)
}

// eachServer runs f as a subtest per server, named after its major
// version: the system's server ("pg15" on Debian 12), then the newest
// ("pg18"; skipped by go test -short). The system's server starts
// first: where it cannot, t fails (CI=true) or is skipped as a whole.
func eachServer(t *testing.T, f func(t *testing.T, l *lab)) {
	t.Helper()
	sys := getLab(t)
	t.Run(sys.name, func(t *testing.T) { f(t, sys) })
	t.Run("pg"+itoa(newestMajor), func(t *testing.T) {
		labtest.Slow(t, "a second server")
		f(t, getLabVersion(t, newestMajor))
	})
}

// labPasswords are the passwords of every lab that started, for the
// telemetry leak check.
func labPasswords() []string {
	var out []string
	if systemLab.l != nil {
		out = append(out, systemLab.l.Password)
	}
	labsMu.Lock()
	defer labsMu.Unlock()
	for _, s := range majorLabs {
		if s.l != nil {
			out = append(out, s.l.Password)
		}
	}
	return out
}

func (s *labSlot) get(t *testing.T, c *pglab.Cluster) *lab {
	t.Helper()
	s.once.Do(func() {
		l := &lab{Cluster: c, name: "pg" + itoa(c.Major)}
		mk := func(p *pglab.Proxy, err error) *pglab.Proxy {
			if err != nil && s.err == nil {
				s.err = err
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
		s.l = l
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.l
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
func isolateEnv(t *testing.T) { labtest.IsolateEnv(t) }

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

// driverName is the driver name that chooses backend ("pgx" or "pq").
func driverName(backend string) string {
	if backend == "pq" {
		return libpq.DriverName
	}
	return securepg.DriverName
}

// withBackend is the option that chooses backend ("pgx": none, the
// default; "pq": libpq.Backend()).
func withBackend(backend string) securepg.Option {
	if backend == "pq" {
		return libpq.Backend()
	}
	return nil
}

// connectorFor is securepg.NewConnector on backend ("pgx" or "pq").
func connectorFor(backend, dsn string, opts ...securepg.Option) (driver.Connector, error) {
	return securepg.NewConnector(dsn, append([]securepg.Option{withBackend(backend)}, opts...)...)
}
