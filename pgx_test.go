package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
	spotel "github.com/securepg/securepg/otel"
)

// userTracer is a pgx tracer an application already has.
type userTracer struct{ queries, connects atomic.Int32 }

func (u *userTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	u.queries.Add(1)
	return ctx
}
func (u *userTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (u *userTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	u.connects.Add(1)
	return ctx
}
func (u *userTracer) TraceConnectEnd(context.Context, pgx.TraceConnectEndData) {}

// userConfig is a pgx configuration as application code builds one: parsed,
// then given its own dialer, tracer and AfterConnect.
type userConfig struct {
	cc                 *pgx.ConnConfig
	tracer             *userTracer
	dials, afterCalled atomic.Int32
}

func newUserConfig(t *testing.T, dsn string) *userConfig {
	t.Helper()
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := &userConfig{cc: cc, tracer: &userTracer{}}
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		u.dials.Add(1)
		return dial(ctx, network, addr)
	}
	cc.Tracer = u.tracer
	cc.AfterConnect = func(context.Context, *pgconn.PgConn) error {
		u.afterCalled.Add(1)
		return nil
	}
	return u
}

// TestConfigurePgx: code that connects with pgx.ConnectConfig gets the
// policy: a weak configuration is refused before anything is dialed, an
// impostor while connecting (pgx's error wraps a *PolicyError), a
// superuser under the policy after the startup; a good one connects
// validated, and the configuration's own dialer, tracer and AfterConnect
// keep running.
func TestConfigurePgx(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	t.Run("validated, composing", func(t *testing.T) {
		isolateEnv(t)
		u := newUserConfig(t, l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
		var info *hooks.ConnInfo
		var ops []string
		if err := securepg.ConfigurePgx(u.cc, securepg.WithLogger(discardLogger()), securepg.WithHooks(hooks.Hooks{
			AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = &ci; return nil },
			AfterQuery:   func(_ context.Context, q *hooks.QueryEvent) { ops = append(ops, q.Op) }})); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.ConnectConfig(ctx, u.cc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var ssl bool
		if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
			t.Fatalf("ssl %v, %v", ssl, err)
		}
		if info == nil || info.Verification != "verify-full" {
			t.Fatalf("AfterConnect hook: %+v", info)
		}
		if len(ops) != 1 || ops[0] != hooks.OpPgx {
			t.Fatalf("QueryEvent.Op through pgx: %q", ops)
		}
		if u.dials.Load() != 1 || u.afterCalled.Load() != 1 || u.tracer.connects.Load() != 1 || u.tracer.queries.Load() != 1 {
			t.Fatalf("the configuration's own hooks: dials %d, AfterConnect %d, connects %d, queries %d",
				u.dials.Load(), u.afterCalled.Load(), u.tracer.connects.Load(), u.tracer.queries.Load())
		}
	})
	t.Run("weak configuration refused before dialing", func(t *testing.T) {
		isolateEnv(t)
		u := newUserConfig(t, l.at(l.relay, "sslmode=prefer"))
		requireReason(t, securepg.ConfigurePgx(u.cc, securepg.WithLogger(discardLogger())), securepg.ReasonPlaintextFallback)
		if u.dials.Load() != 0 {
			t.Fatal("dialed")
		}
	})
	t.Run("impostor refused while connecting", func(t *testing.T) {
		isolateEnv(t)
		imp, err := pglab.NewTLSImpostor(l.Addr(), l.Certs.SelfSigned.TLS, 0)
		if err != nil {
			t.Fatal(err)
		}
		u := newUserConfig(t, l.at(imp, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
		if err := securepg.ConfigurePgx(u.cc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		_, err = pgx.ConnectConfig(ctx, u.cc)
		requireReason(t, err, securepg.ReasonCertificateUntrusted)
		imp.Close()
		if n := imp.FromClient(); n != 0 {
			t.Fatalf("the impostor heard %d bytes", n)
		}
	})
	t.Run("superuser refused after the startup", func(t *testing.T) {
		isolateEnv(t)
		cc, err := pgx.ParseConfig("host=localhost port=" + l.relay.PortString() + " user=" + pglab.SuperUser + " password=" + l.Password +
			" dbname=" + l.Database + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		_, err = pgx.ConnectConfig(ctx, cc)
		requireReason(t, err, securepg.ReasonSuperuserSession)
	})
	t.Run("hosts changed after ConfigurePgx fail closed", func(t *testing.T) {
		isolateEnv(t)
		u := newUserConfig(t, l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
		if err := securepg.ConfigurePgx(u.cc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		before := l.strip.Accepted()
		u.cc.Port = uint16(l.strip.Port())
		u.cc.TLSConfig = nil
		if _, err := pgx.ConnectConfig(ctx, u.cc); !errors.Is(err, securepg.ErrPolicyViolation) {
			t.Fatalf("connected to a host the plan does not have: %v", err)
		}
		if n := l.strip.Accepted() - before; n != 0 {
			t.Fatalf("%d connection(s) reached the host set after ConfigurePgx", n)
		}
	})
}

// TestConfigurePool: a pgxpool gets the policy, credentials from a
// provider and SECUREPG_PASSWORD_FILE for every connection it makes, and
// the same connect spans as database/sql.
func TestConfigurePool(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	noPassword := "host=localhost port=" + l.relay.PortString() + " user=" + l.User + " dbname=" + l.Database +
		" sslmode=verify-full sslrootcert=" + l.Certs.CAFile
	for _, from := range []string{"provider", "SECUREPG_PASSWORD_FILE"} {
		t.Run(from, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			opts := s.opts
			var asked atomic.Int32
			if from == "provider" {
				opts = append(opts, securepg.WithCredentials(hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
					asked.Add(1)
					return hooks.Credentials{Password: l.Password}, nil
				})))
			} else {
				pw := filepath.Join(t.TempDir(), "pw")
				if err := os.WriteFile(pw, []byte(l.Password), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("SECUREPG_PASSWORD_FILE", pw)
			}
			pc, err := pgxpool.ParseConfig(noPassword)
			if err != nil {
				t.Fatal(err)
			}
			pc.MinConns, pc.MaxConns = 0, 3
			if err := securepg.ConfigurePool(pc, opts...); err != nil {
				t.Fatal(err)
			}
			pool, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			// Three connections at once.
			var conns []*pgxpool.Conn
			for range 3 {
				c, err := pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				var ssl bool
				if err := c.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
					t.Fatalf("ssl %v, %v", ssl, err)
				}
				c.Release()
			}
			if from == "provider" && asked.Load() != 3 {
				t.Fatalf("the provider was asked %d times, want once per connection (3)", asked.Load())
			}
			// Pool metrics from pgxpool.Stat.
			reg, err := spotel.RegisterPoolStats(pool, spotel.WithMeterProvider(s.mp), spotel.WithPoolName("orders"))
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Unregister()
			count, ok := s.metrics(t)["db.client.connection.count"].Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatal("no db.client.connection.count")
			}
			idle := 0
			for _, dp := range count.DataPoints {
				if matches(dp.Attributes, map[string]string{"db.client.connection.pool.name": "orders", "db.client.connection.state": "idle"}) {
					idle = int(dp.Value)
				}
			}
			if idle != 3 {
				t.Fatalf("idle connections %d, want 3 (%+v)", idle, count.DataPoints)
			}
			spans := s.ended("securepg.connect")
			if len(spans) != 3 {
				t.Fatalf("%d connect spans, want 3", len(spans))
			}
			wantAttrs(t, spanAttrs(spans[0]), map[string]any{"securepg.tls.verification": "verify-full"})
		})
	}
}

// TestOpenDB: a pgx configuration built in code reaches database/sql
// through securepg.OpenDB; a name from pgx's registry given to
// sql.Open("securepg") is an error that says to use OpenDB.
func TestOpenDB(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	u := newUserConfig(t, l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
	db, err := securepg.OpenDB(u.cc, securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if u.dials.Load() != 1 || u.afterCalled.Load() != 1 {
		t.Fatalf("the configuration's own dialer %d, AfterConnect %d", u.dials.Load(), u.afterCalled.Load())
	}
	weak := newUserConfig(t, l.at(l.relay, "sslmode=disable"))
	if _, err := securepg.OpenDB(weak.cc); !errors.Is(err, securepg.ErrPolicyViolation) {
		t.Fatalf("a weak configuration: %v", err)
	}
	pgxName := stdlib.RegisterConnConfig(u.cc)
	defer stdlib.UnregisterConnConfig(pgxName)
	if _, err := sql.Open(securepg.DriverName, pgxName); err == nil || !strings.Contains(err.Error(), "securepg.OpenDB") {
		t.Fatalf("a pgx registry name: %v", err)
	}
}

// TestDriverNamesChooseTheBackend: the driver name chooses the backend,
// and so the error and connection types application code sees: securepg
// is pgx, securepg-pq lib/pq. SECUREPG_DRIVER is not a setting: a process
// that sets it gets an error naming the driver names, whatever the name.
func TestDriverNamesChooseTheBackend(t *testing.T) {
	l := getLab(t)
	dsn := l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
	for _, name := range []string{securepg.DriverName, libpq.DriverName} {
		t.Run(name, func(t *testing.T) {
			isolateEnv(t)
			db, err := sql.Open(name, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = db.Exec("SELECT * FROM no_such_table")
			var pgErr *pgconn.PgError
			var pqErr *pq.Error
			if name == securepg.DriverName && !errors.As(err, &pgErr) || name == libpq.DriverName && !errors.As(err, &pqErr) {
				t.Fatalf("error %T %v", err, err)
			}
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var isPgx bool
			conn.Raw(func(dc any) error { _, isPgx = dc.(*stdlib.Conn); return nil })
			if isPgx != (name == securepg.DriverName) {
				t.Fatalf("%s: a *stdlib.Conn: %v", name, isPgx)
			}
		})
		t.Run(name+"/SECUREPG_DRIVER", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_DRIVER", "pq")
			_, err := sql.Open(name, dsn)
			if err == nil || !strings.Contains(err.Error(), `sql.Open("securepg-pq", dsn)`) || !strings.Contains(err.Error(), `sql.Open("securepg", dsn)`) {
				t.Fatalf("SECUREPG_DRIVER set: %v", err)
			}
		})
	}
}

// TestConfigurePgxChangedAfterwards: what application code commonly does
// after ConfigurePgx or ConfigurePool never weakens a connection. A
// Tracer set afterwards (otelpgx's line) takes away the seam through
// which pgx hands securepg each connect: the connect then fails closed
// before anything is dialed, and an impostor hears nothing. An
// AfterConnect set afterwards, or removed on pgxpool's copy by its
// BeforeConnect, runs after securepg's judgement, which still refuses a
// superuser session under the policy. Configuring the same configuration
// twice is an error that says to parse it anew.
func TestConfigurePgxChangedAfterwards(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	super := "host=localhost port=" + l.relay.PortString() + " user=" + pglab.SuperUser + " password=" + l.Password +
		" dbname=" + l.Database + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile
	t.Run("Tracer replaced", func(t *testing.T) {
		for _, pool := range []bool{false, true} {
			isolateEnv(t)
			imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, l.Addr(), l.Certs.SelfSigned.TLS)
			if err != nil {
				t.Fatal(err)
			}
			dsn := l.at(imp, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
			if pool {
				pc, err := pgxpool.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				if err := securepg.ConfigurePool(pc, securepg.WithLogger(discardLogger())); err != nil {
					t.Fatal(err)
				}
				pc.ConnConfig.Tracer = &userTracer{}
				p, err := pgxpool.NewWithConfig(ctx, pc)
				if err != nil {
					t.Fatal(err)
				}
				err = p.Ping(ctx)
				p.Close()
				requireReason(t, err, securepg.ReasonTLSNotEstablished)
			} else {
				cc, err := pgx.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
					t.Fatal(err)
				}
				cc.Tracer = &userTracer{}
				_, err = pgx.ConnectConfig(ctx, cc)
				requireReason(t, err, securepg.ReasonTLSNotEstablished)
			}
			imp.Close()
			if h := harvested(imp, l.Password); len(h) > 0 || imp.Accepted() != 0 {
				t.Fatalf("pool %v: the impostor was dialed (%d) or heard %v", pool, imp.Accepted(), h)
			}
		}
	})
	t.Run("Tracer and DialFunc replaced", func(t *testing.T) {
		// The dialer's guard is gone too: the TLS settings left on the
		// configuration refuse every handshake, before the startup message.
		isolateEnv(t)
		imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, l.Addr(), l.Certs.SelfSigned.TLS)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := pgx.ParseConfig(l.at(imp, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		cc.Tracer = &userTracer{}
		cc.DialFunc = (&net.Dialer{KeepAlive: time.Minute}).DialContext
		_, err = pgx.ConnectConfig(ctx, cc)
		requireReason(t, err, securepg.ReasonTLSNotEstablished)
		imp.Close()
		if h := harvested(imp, l.Password); len(h) > 0 || imp.Sessions() != 0 {
			t.Fatalf("the impostor heard %v (%d sessions)", h, imp.Sessions())
		}
	})
	t.Run("AfterConnect set afterwards", func(t *testing.T) {
		isolateEnv(t)
		cc, err := pgx.ParseConfig(super)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		cc.AfterConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
			return pc.Exec(ctx, "SET search_path TO public").Close()
		}
		_, err = pgx.ConnectConfig(ctx, cc)
		requireReason(t, err, securepg.ReasonSuperuserSession)
	})
	t.Run("AfterConnect removed by pgxpool's BeforeConnect", func(t *testing.T) {
		isolateEnv(t)
		pc, err := pgxpool.ParseConfig(super)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePool(pc, securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
			cc.AfterConnect = nil
			return nil
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		requireReason(t, pool.Ping(ctx), securepg.ReasonSuperuserSession)
	})
	t.Run("configured twice", func(t *testing.T) {
		isolateEnv(t)
		cc, err := pgx.ParseConfig(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc); err == nil || !strings.Contains(err.Error(), "parsed anew") {
			t.Fatalf("configured twice: %v", err)
		}
		cc.Tracer = multitracer.New(cc.Tracer, &userTracer{})
		if err := securepg.ConfigurePgx(cc); err == nil || !strings.Contains(err.Error(), "parsed anew") {
			t.Fatalf("configured twice, through a multitracer: %v", err)
		}
	})
}

// TestRefusedConfigurationFailsClosed: a ConfigurePgx or ConfigurePool
// that refused leaves a configuration that cannot connect, so code that
// only logs the error and goes on gets the refusal from every connect,
// not a plaintext session; even with its own dialer put back.
func TestRefusedConfigurationFailsClosed(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	for _, mode := range []string{"sslmode=disable", "sslmode=prefer", "sslmode=require"} {
		t.Run(mode, func(t *testing.T) {
			isolateEnv(t)
			u := newUserConfig(t, l.at(l.relay, mode))
			err := securepg.ConfigurePgx(u.cc, securepg.WithLogger(discardLogger()))
			if !errors.Is(err, securepg.ErrPolicyViolation) {
				t.Fatalf("ConfigurePgx: %v", err)
			}
			before := l.relay.Accepted()
			if _, cerr := pgx.ConnectConfig(ctx, u.cc); !errors.Is(cerr, securepg.ErrPolicyViolation) {
				t.Fatalf("connect after a refusal: %v", cerr)
			}
			// Code that puts a dialer of its own back still gets no session.
			u.cc.DialFunc = (&net.Dialer{}).DialContext
			u.cc.LookupFunc = net.DefaultResolver.LookupHost
			if _, cerr := pgx.ConnectConfig(ctx, u.cc); cerr == nil {
				t.Fatal("connected with a refused configuration and a dialer put back")
			}
			if n := l.relay.Accepted() - before; n > 1 {
				t.Fatalf("%d connections reached the server", n)
			}

			pc, perr := pgxpool.ParseConfig(l.at(l.relay, mode))
			if perr != nil {
				t.Fatal(perr)
			}
			if err := securepg.ConfigurePool(pc, securepg.WithLogger(discardLogger())); !errors.Is(err, securepg.ErrPolicyViolation) {
				t.Fatalf("ConfigurePool: %v", err)
			}
			pool, perr := pgxpool.NewWithConfig(ctx, pc)
			if perr != nil {
				t.Fatal(perr)
			}
			defer pool.Close()
			before = l.relay.Accepted()
			if perr := pool.Ping(ctx); !errors.Is(perr, securepg.ErrPolicyViolation) {
				t.Fatalf("pool after a refusal: %v", perr)
			}
			if n := l.relay.Accepted() - before; n != 0 {
				t.Fatalf("%d connections reached the server", n)
			}
		})
	}
}

// TestOAuthTokenProtected: a pgx configuration with an OAuth token
// provider and no password (PostgreSQL 18's OAUTHBEARER) is a credential
// like a password: under a policy that requires TLS, an impostor whose
// identity is unverified never gets the token, through ConfigurePgx or
// OpenDB. The control proves the trap: with the protection off, it does.
func TestOAuthTokenProtected(t *testing.T) {
	l := getLab(t)
	const token = "eyJ-bearer-token-SECRET"
	for _, path := range []string{"ConfigurePgx", "OpenDB"} {
		for _, optOut := range []bool{false, true} {
			t.Run(path+map[bool]string{false: "/protected", true: "/opt-out"}[optOut], func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "require")
				if optOut {
					t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
				}
				imp, err := pglab.NewAuthImpostor(pglab.AskOAuth, "", l.Certs.SelfSigned.TLS)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { imp.Close() })
				cc, err := pgx.ParseConfig("host=127.0.0.1 port=" + imp.PortString() + " user=app dbname=app sslmode=require")
				if err != nil {
					t.Fatal(err)
				}
				var asked atomic.Int32
				cc.OAuthTokenProvider = func(context.Context) (string, error) { asked.Add(1); return token, nil }
				seen := &violations{}
				opts := []securepg.Option{seen.option(), securepg.WithLogger(discardLogger())}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				var connErr error
				switch path {
				case "ConfigurePgx":
					if err := securepg.ConfigurePgx(cc, opts...); err != nil {
						t.Fatal(err)
					}
					var conn *pgx.Conn
					if conn, connErr = pgx.ConnectConfig(ctx, cc); connErr == nil {
						conn.Close(ctx)
					}
				case "OpenDB":
					db, err := securepg.OpenDB(cc, opts...)
					if err != nil {
						t.Fatal(err)
					}
					connErr = db.PingContext(ctx)
					db.Close()
				}
				imp.Close()
				got := false
				for _, m := range imp.Received() {
					got = got || strings.Contains(string(m), token)
				}
				if optOut {
					if !got {
						t.Fatalf("with the protection off the impostor did not get the token (received %q): the trap does not work", imp.Received())
					}
					return
				}
				requireReason(t, connErr, securepg.ReasonPasswordUnverifiedServer)
				if got || asked.Load() != 0 {
					t.Fatalf("the impostor got the token (provider asked %d times)", asked.Load())
				}
				if s := seen.String(); s != "refused:password_unverified_server" {
					t.Fatalf("OnViolation saw %q", s)
				}
			})
		}
	}
}
