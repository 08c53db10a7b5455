package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lib/pq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/lab/parity"
	"github.com/securepg/securepg/sqlmocktest"
)

// TestParity runs the one table of adversarial cases (lab/parity)
// through every way in of the library, on both backends: database/sql
// (sql.Open and NewConnector, pgx and lib/pq), pgx native (ConfigurePgx,
// ConfigurePool, OpenDB), lib/pq's listeners
// (NewListener and NewListenerDialer: the first connect and a reconnect)
// and sqlmocktest, on PostgreSQL 15 and 18, and asserts the same verdict
// everywhere: the PolicyError's reason, or allowed. A way that cannot
// express a row says why, in the table. The impostors must get neither the password nor a
// session. TestParityCLI runs the same rows through check and probe.
func TestParity(t *testing.T) {
	eachServer(t, func(t *testing.T, l *lab) { parityTable(t, l) })
}

// parityTable runs the table against l's server.
func parityTable(t *testing.T, l *lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := parity.CreateRoles(ctx, l.Cluster); err != nil {
		t.Fatal(err)
	}
	for _, k := range parity.Cases() {
		t.Run(k.Name, func(t *testing.T) {
			for _, w := range parity.LibraryWays {
				t.Run(string(w), func(t *testing.T) {
					if why := parity.NotApplicable(k, w); why != "" {
						t.Logf("not applicable: %s", why)
						return
					}
					isolateEnv(t)
					s, err := parity.Prepare(l.Cluster, k, t.TempDir(), t.Setenv)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					errs := parityConnect(t, l, w, k, s)
					if len(errs) == 0 {
						t.Fatal("the way gave no verdict")
					}
					for i, err := range errs {
						if got := verdict(err); got != k.Want {
							t.Errorf("DIVERGENCE (a security finding, issue 21 point 8): through %s, connect %d gives %q where the table and the other ways give %q: %v", w, i+1, got, k.Want, err)
						}
					}
					s.Close()
					if k.Harvest {
						if s.Harvested() == "" {
							t.Error("with the protection off the peer got nothing: the trap does not work")
						}
					} else if k.Want != parity.Allowed {
						if got := s.Harvested(); got != "" {
							t.Errorf("the peer got %s", got)
						}
						if s.Peer != nil && s.Peer.Sessions() != 0 {
							t.Errorf("the peer obtained %d sessions", s.Peer.Sessions())
						}
					}
				})
			}
		})
	}
}

// verdict is what err says: allowed (nil), a reason code, Escaped for a
// failure that is not the policy's and prints no control character, or
// what else it is.
func verdict(err error) string {
	if err == nil {
		return parity.Allowed
	}
	var pe *securepg.PolicyError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	if r := parity.ControlRune(err.Error()); r >= 0 {
		return "an error with control character " + string(rune(r)) + " " + sprintf("%q", err.Error())
	}
	return parity.Escaped
}

// parityConnect connects through way w as the case says and returns the
// verdict of each connect: one, or for a listener the first connect and
// a reconnect.
func parityConnect(t *testing.T, l *lab, w parity.Way, k parity.Case, s *parity.Setup) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []securepg.Option{securepg.WithLogger(discardLogger())}
	if k.Source == parity.Provider {
		secret := s.Secret
		opts = append(opts, securepg.WithCredentials(hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
			return hooks.Credentials{Password: secret}, nil
		})))
	}
	ping := func(db *sql.DB, err error) []error {
		if err != nil {
			return []error{err}
		}
		defer db.Close()
		return []error{db.PingContext(ctx)}
	}
	connector := func(backend string) []error {
		c, err := connectorFor(backend, s.DSN, opts...)
		if err != nil {
			return []error{err}
		}
		return ping(sql.OpenDB(c), nil)
	}
	pgxConfig := func() *pgx.ConnConfig {
		cc, err := pgx.ParseConfig(s.DSN)
		if err != nil {
			t.Fatal(err)
		}
		if k.Source == parity.OAuthToken {
			cc.OAuthTokenProvider = func(context.Context) (string, error) { return s.Secret, nil }
		}
		return cc
	}
	switch w {
	case parity.SQLOpenPgx:
		return ping(sql.Open(securepg.DriverName, s.DSN))
	case parity.SQLOpenPQ:
		return ping(sql.Open(libpq.DriverName, s.DSN))
	case parity.ConnectorPgx:
		return connector("pgx")
	case parity.ConnectorPQ:
		return connector("pq")
	case parity.ConfigurePgx:
		cc := pgxConfig()
		if err := securepg.ConfigurePgx(cc, opts...); err != nil {
			return []error{err}
		}
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			conn.Close(ctx)
		}
		return []error{err}
	case parity.ConfigurePool:
		pc, err := pgxpool.ParseConfig(s.DSN)
		if err != nil {
			t.Fatal(err)
		}
		if k.Source == parity.OAuthToken {
			pc.ConnConfig.OAuthTokenProvider = func(context.Context) (string, error) { return s.Secret, nil }
		}
		if err := securepg.ConfigurePool(pc, opts...); err != nil {
			return []error{err}
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return []error{err}
		}
		defer pool.Close()
		return []error{pool.Ping(ctx)}
	case parity.OpenDB:
		return ping(securepg.OpenDB(pgxConfig(), opts...))
	case parity.Listener, parity.ListenerDialer:
		return listenerConnects(t, l, w, s, opts)
	case parity.SQLMock:
		var mo []sqlmocktest.Option
		if k.Superuser && k.Role == "" {
			mo = append(mo, sqlmocktest.WithSuperuser(false))
		} else if k.Superuser {
			mo = append(mo, sqlmocktest.WithSuperuser(true))
		}
		db, _, err := sqlmocktest.New(t, s.DSN, mo...)
		if err != nil {
			return []error{err}
		}
		return ping(db, nil)
	}
	t.Fatalf("no way %q", w)
	return nil
}

// listenerConnects makes a lib/pq listener through w and returns the
// verdict of its first connect and of a reconnect: after a refusal lib/pq
// tries again by itself; after a session, the server ends it.
func listenerConnects(t *testing.T, l *lab, w parity.Way, s *parity.Setup, opts []securepg.Option) []error {
	t.Helper()
	events := make(chan error, 16)
	cb := func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected, pq.ListenerEventReconnected, pq.ListenerEventConnectionAttemptFailed:
			select {
			case events <- err:
			default: // lib/pq retrying a refusal: two were enough
			}
		}
	}
	next := func() error {
		select {
		case err := <-events:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("no listener event within 30 s")
			return nil
		}
	}
	var lis *pq.Listener
	if w == parity.Listener {
		nl, err := libpq.NewListener(s.DSN, time.Millisecond, 5*time.Millisecond, cb, opts...)
		if err != nil {
			return []error{err}
		}
		lis = nl.Listener
	} else {
		d, err := libpq.NewListenerDialer(s.DSN, opts...)
		if err != nil {
			return []error{err}
		}
		lis = pq.NewDialListener(d, d.DSN(), time.Millisecond, 5*time.Millisecond, cb)
	}
	defer lis.Close()
	first := next()
	if first == nil {
		// A session: end it on the server, and lib/pq reconnects.
		if err := lis.Listen("securepg_parity"); err != nil {
			t.Fatal(err)
		}
		terminateListeners(t, l)
	}
	return []error{first, next()}
}

// terminateListeners ends, on the lab's server, every session listening
// on securepg_parity.
func terminateListeners(t *testing.T, l *lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rs, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN \"securepg_parity\"'").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 || len(rs[0].Rows) != 1 {
		t.Fatalf("ended %v listening sessions, want 1", rs)
	}
}

// TestParityTableStatesItsCoverage: every row of the parity table runs
// through at least two ways in (a verdict no other way is held to proves
// no parity), both backends, and every way runs a row; what a way
// cannot express it says why.
func TestParityTableStatesItsCoverage(t *testing.T) {
	ways := append(append([]parity.Way{}, parity.LibraryWays...), parity.CLIWays...)
	runs := map[parity.Way]int{}
	names := map[string]bool{}
	for _, k := range parity.Cases() {
		if names[k.Name] || strings.Contains(k.Name, "/") {
			t.Errorf("row %q: a duplicate, or a / that splits its subtest name", k.Name)
		}
		names[k.Name] = true
		var applies []parity.Way
		pgx, pq := false, false
		for _, w := range ways {
			if parity.NotApplicable(k, w) == "" {
				applies = append(applies, w)
				runs[w]++
				switch w {
				case parity.SQLOpenPgx, parity.ConnectorPgx, parity.ConfigurePgx, parity.ConfigurePool, parity.OpenDB, parity.CheckPgx, parity.ProbePgx:
					pgx = true
				case parity.SQLOpenPQ, parity.ConnectorPQ, parity.Listener, parity.ListenerDialer, parity.CheckPQ, parity.ProbePQ:
					pq = true
				}
			}
		}
		if len(applies) < 2 || !pgx || !pq && k.Source != parity.OAuthToken {
			t.Errorf("row %q runs through %v only", k.Name, applies)
		}
	}
	for _, w := range ways {
		if runs[w] == 0 {
			t.Errorf("no row runs through %s", w)
		}
	}
}
