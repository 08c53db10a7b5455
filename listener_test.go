package securepg_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestListener: lib/pq's LISTEN/NOTIFY path under the policy. A weak DSN
// is refused when the listener is made (pq.NewListener would connect it in
// plaintext); a verify-full listener receives notifications over a
// connection the server sees as TLS; an impostor is refused on every
// (re)connection attempt, reported through the listener's event callback
// as a *PolicyError, and hears nothing.
func TestListener(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	ctx := context.Background()

	_, err := libpq.NewListener(l.at(l.relay, "sslmode=disable"), 10*time.Millisecond, time.Second, nil)
	requireReason(t, err, securepg.ReasonTLSDisabled)

	cb, next := connectEvents(t)
	lis, err := libpq.NewListener(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), 10*time.Millisecond, time.Second, cb,
		securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := lis.Listen("securepg_test"); err != nil {
		t.Fatal(err)
	}
	if err := next(); err != nil {
		t.Fatalf("the listener did not connect: %v", err)
	}
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	res, err := admin.Exec(ctx, `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.query LIKE 'LISTEN%securepg_test%'`).ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "t" {
		t.Fatalf("the listener's session in pg_stat_ssl: %v %v", res, err)
	}
	// NOTIFY reaches listeners of the same database.
	db, err := sql.Open("securepg", l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("NOTIFY securepg_test, 'hello'"); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-lis.Notify:
		if n == nil || n.Extra != "hello" {
			t.Fatalf("notification %+v", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification within 30 s")
	}

	imp, err := pglab.NewTLSImpostor(l.Addr(), l.Certs.SelfSigned.TLS, 0)
	if err != nil {
		t.Fatal(err)
	}
	cb, next = connectEvents(t)
	bad, err := libpq.NewListener(l.at(imp, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), 10*time.Millisecond, 20*time.Millisecond, cb,
		securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first attempt and a reconnection
		requireReason(t, next(), securepg.ReasonCertificateUntrusted)
	}
	bad.Close()
	imp.Close()
	if n := imp.FromClient(); n != 0 {
		t.Fatalf("the impostor heard %d bytes", n)
	}
}

// TestListenerHoldsNoPasswordItWasNotGiven: a *pq.Listener prints its DSN
// with %v; the one libpq.NewListener makes (inside a libpq.Listener, which
// prints none) holds a password only where the DSN wrote one. A password from the passfile or PGPASSWORD is read by
// lib/pq itself at each connect, and the listener still connects.
func TestListenerHoldsNoPasswordItWasNotGiven(t *testing.T) {
	l := getLab(t)
	for _, from := range []string{"passfile", "PGPASSWORD"} {
		t.Run(from, func(t *testing.T) {
			isolateEnv(t)
			if from == "passfile" {
				pass := filepath.Join(t.TempDir(), "pgpass")
				if err := os.WriteFile(pass, []byte("*:*:*:*:"+l.Password+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("PGPASSFILE", pass)
			} else {
				t.Setenv("PGPASSWORD", l.Password)
			}
			dsn := "host=localhost port=" + l.relay.PortString() + " user=" + l.User + " dbname=" + l.Database +
				" sslmode=verify-full sslrootcert=" + l.Certs.CAFile
			cb, next := connectEvents(t)
			lis, err := libpq.NewListener(dsn, 10*time.Millisecond, time.Second, cb, securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			// What fmt's %v prints of lib/pq's listener (read by reflection:
			// fmt would race with the listener's goroutine on its mutex).
			dsnField := reflect.ValueOf(lis.Listener).Elem().FieldByName("dsn")
			if !dsnField.IsValid() || dsnField.Kind() != reflect.String {
				t.Fatalf("lib/pq's Listener has no dsn string field: %v", dsnField)
			}
			if strings.Contains(dsnField.String(), l.Password) {
				t.Fatal("the listener's DSN holds a password the DSN did not")
			}
			d, err := libpq.NewListenerDialer(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(d.DSN(), l.Password) {
				t.Fatal("the dialer's DSN holds a password the DSN did not")
			}
			if err := lis.Listen("securepg_pw"); err != nil {
				t.Fatal(err)
			}
			if err := next(); err != nil {
				t.Fatalf("the listener did not connect: %v", err)
			}
		})
	}
}

// TestListenerForbidSuperuser: under SECUREPG_FORBID_SUPERUSER a listener
// session whose role is a superuser is refused when it starts (from the
// is_superuser the server reports, before lib/pq hands the session over);
// a plain role listens.
func TestListenerForbidSuperuser(t *testing.T) {
	l := getLab(t)
	for _, tc := range []struct {
		user    string
		refused bool
	}{{pglab.SuperUser, true}, {l.User, false}} {
		t.Run(tc.user, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_FORBID_SUPERUSER", "true")
			cb, next := connectEvents(t)
			lis, err := libpq.NewListener("host=localhost port="+l.relay.PortString()+" user="+tc.user+" password="+l.Password+
				" dbname="+l.Database+" sslmode=verify-full sslrootcert="+l.Certs.CAFile, 10*time.Millisecond, time.Second,
				cb, securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			err = next()
			if tc.refused {
				requireReason(t, err, securepg.ReasonSuperuserSession)
			} else if err != nil {
				t.Fatalf("a plain role: %v", err)
			}
		})
	}
}

// connectEvents hears a listener's connection attempts: the callback for
// libpq.NewListener, and the wait for the next attempt's result.
func connectEvents(t *testing.T) (pq.EventCallbackType, func() error) {
	events := make(chan error, 16)
	cb := func(ev pq.ListenerEventType, err error) {
		if ev == pq.ListenerEventConnected || ev == pq.ListenerEventConnectionAttemptFailed {
			events <- err
		}
	}
	return cb, func() error {
		t.Helper()
		select {
		case err := <-events:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("no listener event within 30 s")
			return nil
		}
	}
}
