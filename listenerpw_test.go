package securepg_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestListenerProtectsEveryPassword: under a policy that requires TLS, a
// listener sends no password to a server whose identity is unverified,
// wherever the password comes from: the DSN, PGPASSWORD, ~/.pgpass,
// passfile=, PGPASSFILE, a DSN of the caller's own handed to
// pq.NewDialListener, or a service file that gains a password after the
// listener was made (the listener reads the service file when it is made,
// as sql.Open does; lib/pq never reads it, so nothing it gains is sent). Known when the
// listener is made, the password refuses it as sql.Open would; learnt by
// lib/pq later, the request for it is refused before lib/pq can answer,
// at every reconnect, and reported. The control proves the traps.
func TestListenerProtectsEveryPassword(t *testing.T) {
	l := getLab(t)
	const secret = "listener-SECRET-pw"
	type source struct {
		name  string
		setup func(t *testing.T, dsn *string) // may change the DSN or the environment
		later func(t *testing.T)              // after the listener is made
		own   bool                            // the caller hands lib/pq a DSN of its own
	}
	passfile := func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "pgpass")
		if err := os.WriteFile(p, []byte("*:*:*:*:"+secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sources := []source{
		{name: "dsn", setup: func(t *testing.T, dsn *string) { *dsn += " password=" + secret }},
		{name: "PGPASSWORD", setup: func(t *testing.T, _ *string) { t.Setenv("PGPASSWORD", secret) }},
		{name: "~/.pgpass", setup: func(t *testing.T, _ *string) {
			p := passfile(t)
			b, _ := os.ReadFile(p)
			if err := os.WriteFile(filepath.Join(os.Getenv("HOME"), ".pgpass"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "passfile=", setup: func(t *testing.T, dsn *string) { *dsn += " passfile=" + passfile(t) }},
		{name: "PGPASSFILE", setup: func(t *testing.T, _ *string) { t.Setenv("PGPASSFILE", passfile(t)) }},
		{name: "own DSN", own: true},
		{name: "service file gains a password", setup: func(t *testing.T, _ *string) {
			writeService(t, "[svc]\nuser=app\n")
			t.Setenv("PGSERVICE", "svc")
		}, later: func(t *testing.T) {
			// Replaced whole (rename), as a deployment would: lib/pq may
			// read it at any moment.
			path := os.Getenv("PGSERVICEFILE")
			if err := os.WriteFile(path+".new", []byte("[svc]\nuser=app\npassword="+secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, trap := range []struct {
		name string
		trap pglab.AuthTrap
	}{{"cleartext", pglab.AskCleartext}, {"md5", pglab.AskMD5}} {
		for _, src := range sources {
			for _, optOut := range []bool{false, true} {
				name := trap.name + "/" + src.name
				if optOut {
					name += "/opt-out"
				}
				t.Run(name, func(t *testing.T) {
					isolateEnv(t)
					t.Setenv("SECUREPG_MIN_SSLMODE", "require")
					if optOut {
						t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
					}
					imp, err := pglab.NewAuthImpostor(trap.trap, "", l.Certs.SelfSigned.TLS)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { imp.Close() })
					dsn := "host=127.0.0.1 port=" + imp.PortString() + " user=app dbname=app sslmode=require"
					if src.setup != nil {
						src.setup(t, &dsn)
					}
					seen := &violations{}
					cb, next := connectEvents(t)
					opts := []securepg.Option{seen.option(), securepg.WithLogger(discardLogger())}
					var lis *pq.Listener
					if src.own {
						d, err := libpq.NewListenerDialer(dsn, opts...)
						if err != nil {
							t.Fatal(err)
						}
						own := "host=127.0.0.1 port=" + imp.PortString() + " user=app dbname=app sslmode=disable password=" + secret
						lis = pq.NewDialListener(d, own, time.Millisecond, 5*time.Millisecond, cb)
					} else {
						var l *libpq.Listener
						if l, err = libpq.NewListener(dsn, time.Millisecond, 5*time.Millisecond, cb, opts...); err == nil {
							lis = l.Listener
						}
						if err != nil {
							if optOut {
								t.Fatal(err)
							}
							requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
							if imp.Accepted() != 0 {
								t.Fatal("refused when made, but dialed")
							}
							return
						}
					}
					if src.later != nil {
						src.later(t)
					}
					defer lis.Close()
					for range 2 { // the first attempt and a reconnect
						err := next()
						if optOut {
							break
						}
						requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
						if strings.Contains(err.Error(), secret) {
							t.Fatal("the error shows the password")
						}
					}
					lis.Close()
					imp.Close()
					got := harvested(imp, secret)
					if optOut {
						// The service file's password may come only at a
						// reconnect: any answer proves the trap there.
						want := trap.trap == pglab.AskCleartext && src.later == nil
						if len(got) == 0 || want && got[0] != "the password" {
							t.Fatalf("with the protection off the impostor got %v: the trap does not work", got)
						}
						return
					}
					if len(got) > 0 {
						t.Fatalf("the impostor got %s", strings.Join(got, ", "))
					}
					if s := seen.String(); !strings.HasPrefix(s, "refused:password_unverified_server") {
						t.Fatalf("OnViolation saw %q", s)
					}
				})
			}
		}
	}
}
