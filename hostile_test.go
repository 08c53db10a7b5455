package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/securepg/securepg"

	"github.com/securepg/securepg/hooks"
)

// TestPasswordFileMustBeARegularFile: SECUREPG_PASSWORD_FILE pointing at a
// FIFO would block forever, at /dev/zero exhaust memory. securepg reads
// only regular files (following symlinks), up to a size cap, and says
// which variable is wrong.
func TestPasswordFileMustBeARegularFile(t *testing.T) {
	l := getLab(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"FIFO", fifo, "not a regular file"},
		{"symlink to a FIFO", link, "not a regular file"},
		{"/dev/zero", "/dev/zero", "not a regular file"},
		{"a directory", dir, "not a regular file"},
		{"too large", big, "larger than"},
	} {
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_PASSWORD_FILE", tc.path)
				db, err := sql.Open(driverName(drv), l.noPassword())
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				err = pingWithin(t, db, ctx, 20*time.Second)
				if err == nil || !strings.Contains(err.Error(), "SECUREPG_PASSWORD_FILE") || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v", err)
				}
			})
		}
	}
}

// TestSlowHooksAreBoundedByTheContext: a hook that does not return holds
// no Ping past its context: OnViolation (a refusal at connect time),
// BeforeConnect and AfterConnect.
func TestSlowHooksAreBoundedByTheContext(t *testing.T) {
	l := getLab(t)
	release := make(chan struct{})
	defer close(release)
	block := func() { <-release }
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name string
			dsn  string
			h    hooks.Hooks
		}{
			{"OnViolation", l.at(l.selfSigned, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
				hooks.Hooks{OnViolation: func(context.Context, *hooks.Violation) { block() }}},
			{"BeforeConnect", l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
				hooks.Hooks{BeforeConnect: func(context.Context, hooks.Attempt) error { block(); return nil }}},
			{"AfterConnect", l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
				hooks.Hooks{AfterConnect: func(context.Context, hooks.ConnInfo) error { block(); return nil }}},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				c, err := securepg.NewConnector(tc.dsn, withBackend(drv), securepg.WithLogger(discardLogger()), securepg.WithHooks(tc.h))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				if err := pingWithin(t, db, ctx, 20*time.Second); err == nil {
					t.Fatal("Ping succeeded")
				}
			})
		}
	}
}

// TestEffectiveTLSMinimumIsReported: with ssl_min_protocol_version=TLSv1.3
// in the DSN, a TLS 1.2-only peer's refusal names TLSv1.3, the minimum in
// force, not the policy's TLSv1.2.
func TestEffectiveTLSMinimumIsReported(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			db, err := sql.Open(driverName(drv), l.at(l.tls12, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, "ssl_min_protocol_version=TLSv1.3"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Ping()
			requireReason(t, err, securepg.ReasonTLSVersionTooLow)
			var pe *securepg.PolicyError
			errors.As(err, &pe)
			if pe.Want != "TLSv1.3" || !strings.Contains(pe.Error(), "TLSv1.3") {
				t.Fatalf("want %q: %v", pe.Want, pe)
			}
		})
	}
}

// TestNamedFilesMustBeRegularFiles: a FIFO where the DSN, the environment
// or the policy names a file (sslrootcert, passfile, the service file)
// would block the driver's parser at sql.Open, or lib/pq's own read of the
// passfile at connect, outside any context. securepg refuses it before any
// parser reads it, and reads lib/pq's passfile itself.
func TestNamedFilesMustBeRegularFiles(t *testing.T) {
	l := getLab(t)
	ca := "sslrootcert=" + l.Certs.CAFile
	for _, tc := range []struct {
		name, drv string
		dsn       func(fifo string) string
		env       func(t *testing.T, fifo string)
	}{
		{"pgx sslrootcert", "pgx", func(f string) string { return l.at(l.relay, "sslmode=verify-full", "sslrootcert="+f) }, nil},
		{"pgx passfile", "pgx", func(f string) string {
			return "host=localhost port=" + l.relay.PortString() + " user=" + l.User + " dbname=" + l.Database + " sslmode=verify-full " + ca + " passfile=" + f
		}, nil},
		{"pq passfile", "pq", func(f string) string {
			return "host=localhost port=" + l.relay.PortString() + " user=" + l.User + " dbname=" + l.Database + " sslmode=verify-full " + ca + " passfile=" + f
		}, nil},
		{"pq PGSERVICEFILE", "pq", func(string) string { return "service=x " + l.auth() }, func(t *testing.T, f string) { t.Setenv("PGSERVICEFILE", f) }},
		{"pgx PGPASSFILE", "pgx", func(string) string {
			return "host=localhost port=" + l.relay.PortString() + " user=" + l.User + " dbname=" + l.Database + " sslmode=verify-full " + ca
		}, func(t *testing.T, f string) { t.Setenv("PGPASSFILE", f) }},
		{"SECUREPG_SSLROOTCERT", "pgx", func(string) string { return l.at(l.relay, "sslmode=verify-full") },
			func(t *testing.T, f string) { t.Setenv("SECUREPG_SSLROOTCERT", f) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.env != nil {
				tc.env(t, fifo)
			}
			done := make(chan error, 1)
			go func() {
				db, err := sql.Open(driverName(tc.drv), tc.dsn(fifo))
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					err = db.PingContext(ctx)
					cancel()
					db.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("err = %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("blocked on a FIFO")
			}
		})
	}
}
