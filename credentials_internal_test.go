package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
)

func TestCallHookWrapsErrorsAndPanics(t *testing.T) {
	cause := errors.New("cause")
	run := func(f func()) error {
		_, err := callHook("X", 2, func() (struct{}, error) { f(); return struct{}{}, nil })
		return err
	}
	err := run(func() { panic(cause) })
	var he *hooks.Error
	if !errors.As(err, &he) || !he.Panic || he.Hook != "X" || he.Index != 2 || !errors.Is(err, cause) {
		t.Fatalf("%#v", err)
	}
	err = run(func() { panic("Zq7-in-a-panic") })
	if strings.Contains(err.Error(), "Zq7") || !strings.Contains(err.Error(), "string") {
		t.Fatalf("non-error panic value: %v", err)
	}
	if _, err := callHook("X", 0, func() (int, error) { return 1, nil }); err != nil {
		t.Fatal("a hook without error failed")
	}
	_, w := callHook("X", 0, func() (int, error) { return 0, cause })
	if !errors.Is(w, cause) {
		t.Fatal("the cause is lost")
	}
	if _, again := callHook("X", 0, func() (int, error) { return 0, w }); again != w {
		t.Fatal("a hook's own *hooks.Error is wrapped twice")
	}
}

// TestPasswordFileTolerance: the password file follows a Kubernetes
// secret volume's ..data symlink swap, and a file missing for a moment
// leaves the last password in force.
func TestPasswordFileTolerance(t *testing.T) {
	dir := t.TempDir()
	publish := func(version, password string) {
		if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, version, "password"), []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	publish("..v1", "Zq7-one")
	if err := os.Symlink(filepath.Join("..data", "password"), filepath.Join(dir, "password")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := &passwordFile{path: filepath.Join(dir, "password")}
	if pw, err := f.read(ctx); err != nil || pw != "Zq7-one" {
		t.Fatalf("%q, %v", pw, err)
	}
	if err := os.Remove(filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if pw, err := f.read(ctx); err != nil || pw != "Zq7-one" {
		t.Fatalf("while absent: %q, %v", pw, err)
	}
	publish("..v2", "Zq7-two")
	if pw, err := f.read(ctx); err != nil || pw != "Zq7-two" {
		t.Fatalf("after the swap: %q, %v", pw, err)
	}
	// Never read: an error that names the variable, not the content.
	missing := &passwordFile{path: filepath.Join(t.TempDir(), "nope")}
	if _, err := missing.read(ctx); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "SECUREPG_PASSWORD_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConnectNeverReturnsErrBadConn(t *testing.T) {
	c := &connector{policy: core.DefaultPolicy(), logger: slog.New(slog.DiscardHandler)}
	err := c.connectError(context.Background(), driver.ErrBadConn, nil, core.NewRecorder())
	if err == nil || errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("connectError(ErrBadConn) = %v", err)
	}
}

// TestLogLimiter: one line per violation and host a minute, then one
// that says how many were not logged.
func TestLogLimiter(t *testing.T) {
	var lim logLimiter
	v := &core.Violation{Reason: ReasonHostnameMismatch, Host: "h:1"}
	now := time.Now()
	if ok, _ := lim.allow(slog.LevelError, v, now); !ok {
		t.Fatal("first line suppressed")
	}
	for i := range 5 {
		if ok, _ := lim.allow(slog.LevelError, v, now.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("a repeat within the minute was logged")
		}
	}
	if ok, n := lim.allow(slog.LevelError, v, now.Add(logInterval)); !ok || n != 5 {
		t.Fatalf("after the minute: %v, %d suppressed", ok, n)
	}
}
