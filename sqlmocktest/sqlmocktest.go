package sqlmocktest

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
)

// TB is the part of testing.TB that New and Register use: a *testing.T
// or *testing.B will do.
type TB interface {
	Helper()
	Cleanup(func())
}

// TLS is the simulated TLS state of the mock's connections, validated
// against the policy like a real handshake.
type TLS struct {
	// Disabled simulates a plaintext connection.
	Disabled bool
	// Version is the negotiated version; 0 means tls.VersionTLS13.
	Version uint16
	// CipherSuite; 0 means TLS_AES_128_GCM_SHA256.
	CipherSuite uint16
	// CurveID is the negotiated key-exchange group; 0 means
	// tls.X25519MLKEM768 (crypto/tls's first choice).
	CurveID tls.CurveID
	// Verification is "none", "verify-ca" or "verify-full"; "" means what
	// the DSN's sslmode verifies (verify-full for sslmode=verify-full).
	Verification string
	// PeerCertificates is the server's chain, leaf first, which pins are
	// matched against where the simulated connection verifies.
	PeerCertificates []*x509.Certificate
}

// Option configures New and Register.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithSuperuser simulates a session whose role is a superuser (the
// server's is_superuser=on), which SECUREPG_FORBID_SUPERUSER refuses. By
// default the simulated role is not one.
func WithSuperuser(on bool) Option { return optionFunc(func(c *config) { c.superuser = on }) }

type config struct {
	superuser bool
	tls       TLS
	sqlmock   []reflect.Value
	securepg  []securepg.Option
	err       error
}

// WithTLS sets the simulated TLS state.
func WithTLS(s TLS) Option { return optionFunc(func(c *config) { c.tls = s }) }

// WithSqlmock passes go-sqlmock's own options, such as
// sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual),
// sqlmock.ValueConverterOption(...) or sqlmock.MonitorPingsOption(true).
func WithSqlmock[F any](opts ...F) Option {
	return optionFunc(func(c *config) {
		want := reflect.TypeOf(sqlmock.New).In(0).Elem()
		for _, o := range opts {
			v := reflect.ValueOf(o)
			if v.Type() != want {
				c.err = fmt.Errorf("sqlmocktest.WithSqlmock: %s is not a go-sqlmock option", v.Type())
				return
			}
			c.sqlmock = append(c.sqlmock, v)
		}
	})
}

// WithSecurepg passes options to securepg.NewConnector (New only): hooks,
// telemetry providers, policy overrides.
func WithSecurepg(opts ...securepg.Option) Option {
	return optionFunc(func(c *config) { c.securepg = append(c.securepg, opts...) })
}

var seq atomic.Int64

// New returns a *sql.DB for dsn whose connections are go-sqlmock's, and
// the mock to set expectations on. The error is securepg's (a
// *securepg.PolicyError, an invalid DSN or SECUREPG_* variable). Both are
// closed when the test ends.
func New(t TB, dsn string, opts ...Option) (*sql.DB, sqlmock.Sqlmock, error) {
	t.Helper()
	c, m, err := newMock(t, opts)
	if err != nil {
		return nil, nil, err
	}
	db, err := open(t, dsn, c, m)
	if err != nil {
		return nil, nil, err
	}
	return db, m.mock, nil
}

// OpenDB returns a *sql.DB for dsn whose connections are inner's (an
// in-memory driver of your own, say) instead of go-sqlmock's, through the
// same chain as New: the policy, the simulated TLS state, hooks and
// telemetry. WithSqlmock does not apply.
func OpenDB(t TB, dsn string, inner driver.Connector, opts ...Option) (*sql.DB, error) {
	t.Helper()
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if len(c.sqlmock) > 0 {
		return nil, fmt.Errorf("sqlmocktest.OpenDB: WithSqlmock does not apply to a connector of your own")
	}
	return open(t, dsn, c, &mock{inner: inner, tls: c.tls, superuser: c.superuser})
}

func open(t TB, dsn string, c *config, m *mock) (*sql.DB, error) {
	conn, err := securepg.NewConnector(dsn, c.securepg...)
	if err != nil {
		return nil, err
	}
	seam.Of(conn).UseMock(m)
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db, nil
}

// Register makes every connector securepg makes for dsn until the end of
// the test (sql.Open("securepg" or "securepg-pq", dsn), NewConnector) use a
// go-sqlmock connection, for code that opens its own database; the policy
// still judges dsn with the backend that code chooses. Registrations are
// process-wide: tests that register the same DSN must not run in parallel.
// WithSecurepg does not apply.
func Register(t TB, dsn string, opts ...Option) (sqlmock.Sqlmock, error) {
	t.Helper()
	c, m, err := newMock(t, opts)
	if err != nil {
		return nil, err
	}
	if len(c.securepg) > 0 {
		return nil, fmt.Errorf("sqlmocktest.Register: WithSecurepg does not apply to code that calls sql.Open itself: drop it (the driver name that code opens, \"securepg\" or \"securepg-pq\", chooses the backend)")
	}
	t.Cleanup(reg.add(dsn, m))
	return m.mock, nil
}

// registry holds Register's mocks. It installs securepg's lookup of them
// at the first registration: until then securepg cannot find a mock.
type registry struct {
	mu   sync.Mutex
	once sync.Once
	m    map[string][]*mock // DSN -> registrations, the last one in force
}

var reg registry

func (r *registry) add(dsn string, m *mock) (remove func()) {
	r.once.Do(func() { seam.LookupMock = r.lookup })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string][]*mock{}
	}
	r.m[dsn] = append(r.m[dsn], m)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if list := slices.DeleteFunc(r.m[dsn], func(x *mock) bool { return x == m }); len(list) > 0 {
			r.m[dsn] = list
		} else {
			delete(r.m, dsn)
		}
	}
}

func (r *registry) lookup(dsn string) (seam.Mock, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.m[dsn]
	if len(list) == 0 {
		return nil, false
	}
	return list[len(list)-1], true
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	return c, c.err
}

func newMock(t TB, opts []Option) (*config, *mock, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("securepg-sqlmocktest-%d", seq.Add(1))
	out := reflect.ValueOf(sqlmock.NewWithDSN).Call(append([]reflect.Value{reflect.ValueOf(name)}, c.sqlmock...))
	if err, _ := out[2].Interface().(error); err != nil {
		return nil, nil, fmt.Errorf("sqlmocktest: %w", err)
	}
	mockDB := out[0].Interface().(*sql.DB)
	t.Cleanup(func() { mockDB.Close() })
	return c, &mock{name: name, db: mockDB, mock: out[1].Interface().(sqlmock.Sqlmock), tls: c.tls, superuser: c.superuser}, nil
}

// mock implements seam.Mock: go-sqlmock's conn (or inner's), and the
// simulated facts.
type mock struct {
	name  string
	db    *sql.DB
	mock  sqlmock.Sqlmock
	inner driver.Connector
	tls   TLS

	superuser bool
}

func (m *mock) Connect(ctx context.Context, t core.Target) (driver.Conn, core.Facts, error) {
	var conn driver.Conn
	var err error
	if m.inner != nil {
		conn, err = m.inner.Connect(ctx)
	} else {
		conn, err = m.db.Driver().Open(m.name)
	}
	if err != nil {
		return nil, core.Facts{}, err
	}
	return conn, m.facts(t), nil
}

func (m *mock) facts(t core.Target) core.Facts {
	// A plain role on a current server, unless WithSuperuser.
	f := core.Facts{Network: t.Network, Host: t.Host, Port: t.Port, Mode: t.Mode, Superuser: "off",
		Role: &core.RoleFacts{ServerVersion: 170000}}
	if m.superuser {
		f.Superuser = "on"
		f.Role.Superuser = true
	}
	if t.Network == "unix" || m.tls.Disabled {
		if m.tls.Disabled {
			f.Mode = core.ModeDisable
		}
		return f
	}
	f.TLS = true
	f.Version = cmp.Or(m.tls.Version, tls.VersionTLS13)
	f.CipherSuite = cmp.Or(m.tls.CipherSuite, tls.TLS_AES_128_GCM_SHA256)
	f.CurveID = cmp.Or(m.tls.CurveID, tls.X25519MLKEM768)
	f.PeerCertificates = m.tls.PeerCertificates
	switch strings.ToLower(m.tls.Verification) {
	case "verify-full":
		f.Verify = core.VerifyFull
	case "verify-ca":
		f.Verify = core.VerifyCA
	case "none", "require":
		f.Verify = core.VerifyNone
	default:
		for _, a := range t.Attempts {
			if a.TLS {
				f.Verify = a.Verify
				break
			}
		}
	}
	if f.Verify != core.VerifyNone && len(f.PeerCertificates) > 0 {
		// The simulated verification vouches for the chain given, which
		// SECUREPG_PIN_SHA256's pins are matched against.
		f.VerifiedChains = [][]*x509.Certificate{f.PeerCertificates}
	}
	return f
}
