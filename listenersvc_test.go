package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// listenerEvents hears every connection event of a listener, reconnects
// included: the callback (which never blocks the listener, so that
// lis.Close always returns), and the wait for the next one's error.
func listenerEvents(t *testing.T) (pq.EventCallbackType, func() error) {
	cb, next, _ := listenerEventsDrain(t)
	return cb, next
}

// listenerEventsDrain is listenerEvents, and a drain that forgets the
// events heard so far.
func listenerEventsDrain(t *testing.T) (pq.EventCallbackType, func() error, func()) {
	var mu sync.Mutex
	var heard []error
	signal := make(chan struct{}, 1)
	cb := func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected, pq.ListenerEventReconnected, pq.ListenerEventConnectionAttemptFailed:
			mu.Lock()
			heard = append(heard, err)
			mu.Unlock()
			select {
			case signal <- struct{}{}:
			default:
			}
		}
	}
	next := func() error {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			mu.Lock()
			if len(heard) > 0 {
				err := heard[0]
				heard = heard[1:]
				mu.Unlock()
				return err
			}
			mu.Unlock()
			select {
			case <-signal:
			case <-deadline:
				t.Fatal("no listener event within 30 s")
				return nil
			}
		}
	}
	drain := func() {
		mu.Lock()
		heard = nil
		mu.Unlock()
	}
	return cb, next, drain
}

// listenerWays makes a listener as NewListener does, and as a caller does
// with NewListenerDialer and pq.NewDialListener.
var listenerWays = []struct {
	name string
	make func(dsn string, cb pq.EventCallbackType, opts ...securepg.Option) (*pq.Listener, error)
}{
	{"NewListener", func(dsn string, cb pq.EventCallbackType, opts ...securepg.Option) (*pq.Listener, error) {
		l, err := libpq.NewListener(dsn, time.Millisecond, 20*time.Millisecond, cb, opts...)
		if err != nil {
			return nil, err
		}
		return l.Listener, nil
	}},
	{"NewListenerDialer", func(dsn string, cb pq.EventCallbackType, opts ...securepg.Option) (*pq.Listener, error) {
		d, err := libpq.NewListenerDialer(dsn, opts...)
		if err != nil {
			return nil, err
		}
		return pq.NewDialListener(d, d.DSN(), time.Millisecond, 20*time.Millisecond, cb), nil
	}},
}

// TestListenerReadsTheServiceFileAsSQLOpen: PGSERVICE and PGSERVICEFILE
// naming a service that sets host, port, sslmode and sslrootcert give a
// listener the verdict sql.Open("securepg-pq", dsn) gets, and the same
// connection: it connects verified, hears a NOTIFY, and reconnects after
// its session is killed (lib/pq reads the environment again then, and
// would let the service override the listener's hosts and sslmode). A
// weaker service is refused as sql.Open refuses it. A service edited after
// the listener was made to point at a plaintext peer changes nothing, as
// for sql.Open: the reconnect goes where the listener was judged to go.
func TestListenerReadsTheServiceFileAsSQLOpen(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	service := func(extra string) string {
		return "[s]\nhost=localhost\nport=" + l.relay.PortString() + "\nsslrootcert=" + l.Certs.CAFile + "\n" + extra
	}
	for _, way := range listenerWays {
		for _, mode := range []string{"verify-full", "require", "disable"} {
			t.Run(way.name+"/"+mode, func(t *testing.T) {
				isolateEnv(t)
				path := writeService(t, service("sslmode="+mode+"\n"))
				t.Setenv("PGSERVICE", "s")
				dsn := l.auth()
				db, openErr := sql.Open(libpq.DriverName, dsn)
				if openErr == nil {
					defer db.Close()
					if err := pingFor(db, 20*time.Second); err != nil {
						t.Fatalf("sql.Open's connection: %v", err)
					}
				}
				cb, next := listenerEvents(t)
				lis, err := way.make(dsn, cb, securepg.WithLogger(discardLogger()))
				if (err == nil) != (openErr == nil) || err != nil && err.Error() != openErr.Error() {
					t.Fatalf("the listener's verdict: %v; sql.Open's: %v", err, openErr)
				}
				if err != nil {
					return
				}
				defer lis.Close()
				channel := "svc_" + strings.ReplaceAll(strings.ToLower(way.name), "new", "")
				if err := next(); err != nil {
					t.Fatalf("the listener did not connect: %v", err)
				}
				if err := lis.Listen(channel); err != nil {
					t.Fatal(err)
				}
				notify(t, db, lis, channel, "first")
				// The service now sends lib/pq elsewhere in plaintext.
				if err := os.WriteFile(path+".new", []byte("[s]\nhost=127.0.0.1\nport="+l.strip.PortString()+"\nsslmode=disable\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path+".new", path); err != nil {
					t.Fatal(err)
				}
				stripped := l.strip.Accepted()
				if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%"+channel+"%'").ReadAll(); err != nil {
					t.Fatal(err)
				}
				if err := next(); err != nil {
					t.Fatalf("the listener did not reconnect: %v", err)
				}
				notify(t, db, lis, channel, "second")
				if l.strip.Accepted() != stripped {
					t.Fatal("the reconnect went where the edited service file points")
				}
			})
		}
	}
}

// notify sends a NOTIFY through db and waits for lis to hear it.
func notify(t *testing.T, db *sql.DB, lis *pq.Listener, channel, payload string) {
	t.Helper()
	if _, err := db.Exec("SELECT pg_notify($1, $2)", channel, payload); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case n := <-lis.Notify:
			if n != nil && n.Extra == payload {
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no notification %q within 30 s", payload)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger that several goroutines use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestListenerAuditsThePassword: in audit mode, a password that the
// password rule would refuse (lib/pq cannot bind SCRAM, the server's
// identity is unverified) is reported by a listener as sql.Open reports
// it, with the outcome "audited" and a WARN log record: one known when it
// is made (the DSN's, PGPASSWORD's, the passfile's) as the
// configuration's; one the passfile gains later at every attempt after,
// reconnects included.
func TestListenerAuditsThePassword(t *testing.T) {
	l := getLab(t)
	const secret = "audit-SECRET-pw"
	const want = "audited:password_unverified_server"
	for _, way := range listenerWays {
		for _, from := range []string{"DSN", "passfile", "PGPASSWORD", "passfile later"} {
			t.Run(way.name+"/"+from, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MODE", "audit")
				t.Setenv("SECUREPG_MIN_SSLMODE", "require")
				imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, "", l.Certs.SelfSigned.TLS)
				if err != nil {
					t.Fatal(err)
				}
				defer imp.Close()
				dsn := "host=127.0.0.1 port=" + imp.PortString() + " user=app dbname=app sslmode=require"
				pass := filepath.Join(t.TempDir(), "pgpass")
				writePass := func(content string) {
					if err := os.WriteFile(pass+".new", []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(pass+".new", pass); err != nil {
						t.Fatal(err)
					}
				}
				switch from {
				case "DSN":
					dsn += " password=" + secret
				case "passfile":
					writePass("*:*:*:*:" + secret + "\n")
					dsn += " passfile=" + pass
				case "passfile later":
					writePass("# none yet\n")
					dsn += " passfile=" + pass
				default:
					t.Setenv("PGPASSWORD", secret)
				}
				// sql.Open's report of two connects, the reference.
				ref := &violations{}
				c, err := connectorFor("pq", dsn, ref.option(), securepg.WithLogger(discardLogger()))
				if err != nil {
					t.Fatal(err)
				}
				if from == "passfile later" {
					if ref.String() != "" {
						t.Fatalf("sql.Open reported %q before the passfile held a password", ref)
					}
					writePass("*:*:*:*:" + secret + "\n")
				}
				db := sql.OpenDB(c)
				for range 2 {
					pingFor(db, 10*time.Second)
				}
				db.Close()
				wantN := strings.Count(ref.String(), want)
				if wantN == 0 || from == "passfile later" && wantN < 2 {
					t.Fatalf("sql.Open reported %q over two connects", ref)
				}
				if from == "passfile later" {
					writePass("# none yet\n")
					wantN = 1 // the reconnect after the edit, at least
				}
				seen := &violations{}
				logs := &syncBuffer{}
				logger := slog.New(slog.NewJSONHandler(logs, nil))
				cb, next, drain := listenerEventsDrain(t)
				lis, err := way.make(dsn, cb, seen.option(), securepg.WithLogger(logger))
				if err != nil {
					t.Fatalf("audit mode refused the listener: %v", err)
				}
				defer lis.Close()
				next() // the first attempt
				if from == "passfile later" {
					if seen.String() != "" {
						t.Fatalf("the listener reported %q before the passfile held a password", seen)
					}
					writePass("*:*:*:*:" + secret + "\n")
					drain() // an attempt under way may have read the file before the edit
					next()
				}
				next() // a reconnect
				lis.Close()
				if n := strings.Count(seen.String(), want); n < wantN {
					t.Fatalf("OnViolation heard %q: want %s %d times, as sql.Open", seen, want, wantN)
				}
				if s := logs.String(); !strings.Contains(s, `"level":"WARN"`) || !strings.Contains(s, "password_unverified_server") {
					t.Fatalf("no WARN log record of the audited password: %s", s)
				}
			})
		}
	}
}

// TestListenerRereadsThePassfile: a listener made with no password
// anywhere, whose passfile (passfile=, PGPASSFILE, ~/.pgpass) gains one
// afterwards, judges at its next reconnect the password lib/pq then reads,
// as sql.Open's connect does: against a self-signed impostor under a
// require minimum it is refused (password_unverified_server) before
// anything is dialed, and the impostor hears no password.
func TestListenerRereadsThePassfile(t *testing.T) {
	l := getLab(t)
	const secret = "passfile-SECRET-pw"
	for _, way := range listenerWays {
		for _, from := range []string{"passfile=", "PGPASSFILE", "~/.pgpass"} {
			t.Run(way.name+"/"+from, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "require")
				imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, "", l.Certs.SelfSigned.TLS)
				if err != nil {
					t.Fatal(err)
				}
				defer imp.Close()
				dsn := "host=127.0.0.1 port=" + imp.PortString() + " user=app dbname=app sslmode=require"
				path := filepath.Join(t.TempDir(), "pgpass")
				switch from {
				case "passfile=":
					dsn += " passfile=" + path
				case "PGPASSFILE":
					t.Setenv("PGPASSFILE", path)
				default:
					path = filepath.Join(os.Getenv("HOME"), ".pgpass")
				}
				if err := os.WriteFile(path, []byte("# none yet\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				seen := &violations{}
				cb, next, drain := listenerEventsDrain(t)
				lis, err := way.make(dsn, cb, seen.option(), securepg.WithLogger(discardLogger()))
				if err != nil {
					t.Fatal(err)
				}
				defer lis.Close()
				requireReason(t, next(), securepg.ReasonPasswordUnverifiedServer) // asked, refused
				if err := os.WriteFile(path+".new", []byte("*:*:*:*:"+secret+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path+".new", path); err != nil {
					t.Fatal(err)
				}
				// Forget the attempts made before the edit; one may be under
				// way, with the passfile lib/pq read before it.
				drain()
				accepted := imp.Accepted()
				for range 4 {
					requireReason(t, next(), securepg.ReasonPasswordUnverifiedServer)
				}
				if n := imp.Accepted(); n > accepted+1 {
					t.Fatalf("the impostor accepted %d connections after the passfile gained a password; a password lib/pq reads is judged before dialing, as sql.Open's connect does", n-accepted)
				}
				lis.Close()
				imp.Close()
				if got := harvested(imp, secret); len(got) > 0 {
					t.Fatalf("the impostor got %s", strings.Join(got, ", "))
				}
			})
		}
	}
}

// TestListenerRefusesHostileServiceFiles: PGSERVICE naming a service in a
// service file that is a FIFO (lib/pq would block opening it), /dev/zero
// (never ends), or one over the cap, with NUL bytes and control bytes in
// its section names: the listener is refused promptly, as sql.Open is,
// with an error that shows none of the file.
func TestListenerRefusesHostileServiceFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge")
	content := "[s\x00\x1b[31m]\nhost=evil\n[s]\nsslmode=disable\n" + strings.Repeat("# padding\n", 10000)
	if err := os.WriteFile(huge, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero", huge} {
		for _, way := range listenerWays {
			t.Run(way.name+"/"+filepath.Base(path), func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("PGSERVICEFILE", path)
				t.Setenv("PGSERVICE", "s")
				dsn := "host=127.0.0.1 port=1 user=app dbname=app sslmode=verify-full password=never-SECRET"
				_, openErr := sql.Open(libpq.DriverName, dsn)
				_, err := way.make(dsn, nil, securepg.WithLogger(discardLogger()))
				if err == nil || openErr == nil || err.Error() != openErr.Error() {
					t.Fatalf("the listener's verdict: %v; sql.Open's: %v", err, openErr)
				}
				if msg := err.Error(); strings.Contains(msg, "evil") || strings.Contains(msg, "never-SECRET") || strings.ContainsAny(msg, "\x00\x1b") {
					t.Fatalf("the error shows the file or the password: %q", msg)
				}
			})
		}
	}
}

// TestListenerUnderPGSSLNegotiationDirect: PGSSLNEGOTIATION=direct in the
// environment, which lib/pq reads again at every reconnect: the listener
// connects to PostgreSQL 18 as sql.Open does (lib/pq would refuse the
// listener's own sslmode=disable beside it, and never connect).
func TestListenerUnderPGSSLNegotiationDirect(t *testing.T) {
	l := getLabVersion(t, newestMajor)
	for _, way := range listenerWays {
		t.Run(way.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("PGSSLNEGOTIATION", "direct")
			dsn := l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
			db, err := sql.Open(libpq.DriverName, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := pingFor(db, 20*time.Second); err != nil {
				t.Fatalf("sql.Open's connection: %v", err)
			}
			cb, next := listenerEvents(t)
			lis, err := way.make(dsn, cb, securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			if err := next(); err != nil {
				t.Fatalf("the listener did not connect: %v", err)
			}
		})
	}
}
