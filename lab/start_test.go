package lab_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// systemBinDir is the system's server, or the test is unavailable.
func systemBinDir(t *testing.T) string {
	t.Helper()
	bin, err := lab.FindBinDir()
	if err != nil {
		labtest.Unavailable(t, err)
	}
	return bin
}

// fakeBinDir is a bin directory whose initdb is script and whose pg_ctl
// and postgres fail, in a directory the server user can reach.
func fakeBinDir(t *testing.T, script string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "securepg-fakebin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"initdb": script, "pg_ctl": "exit 1", "postgres": "exit 1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// assertNothingLeft fails t when a start left a directory or a process.
func assertNothingLeft(t *testing.T, tmp string, also ...string) {
	t.Helper()
	if left := labtest.Leftovers(t, tmp, also...); len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

func TestStartWithBogusBinDir(t *testing.T) {
	tmp := labtest.ServerTempDir(t)
	bogus := filepath.Join(tmp, "no-such-bin")
	t.Setenv(lab.BinDirEnv(99), bogus)
	_, err := lab.FindVersionBinDir(context.Background(), 99)
	if err == nil || !strings.Contains(err.Error(), lab.BinDirEnv(99)) {
		t.Fatalf("FindVersionBinDir with %s=%s: %v", lab.BinDirEnv(99), bogus, err)
	}
	c, err := lab.StartWith(context.Background(), lab.Options{BinDir: bogus})
	if c != nil || err == nil || !strings.Contains(err.Error(), "initdb not found in "+bogus) {
		t.Fatalf("StartWith(%s) = %v, %v", bogus, c, err)
	}
	assertNothingLeft(t, tmp)
}

func TestStartReportsInitdbsMessage(t *testing.T) {
	bin := fakeBinDir(t, `echo "initdb: error: the disk is on fire $(printf '\033[31m')red" >&2; exit 1`)
	tmp := labtest.ServerTempDir(t)
	c, err := lab.StartWith(context.Background(), lab.Options{BinDir: bin})
	var te *lab.ToolError
	if c != nil || !errors.As(err, &te) || te.Tool != "initdb" {
		t.Fatalf("StartWith = %v, %v; want a *lab.ToolError from initdb", c, err)
	}
	if msg := err.Error(); !strings.Contains(msg, `initdb: error: the disk is on fire \x1b[31mred`) || strings.ContainsRune(msg, 0x1b) {
		t.Fatalf("the error does not carry initdb's message, escaped: %q", msg)
	}
	assertNothingLeft(t, tmp)
}

func TestStartToolMessageIsBounded(t *testing.T) {
	bin := fakeBinDir(t, `i=0; while [ $i -lt 3000 ]; do echo "line $i of noise"; i=$((i+1)); done; echo "initdb: error: the last word" >&2; exit 1`)
	tmp := labtest.ServerTempDir(t)
	_, err := lab.StartWith(context.Background(), lab.Options{BinDir: bin})
	var te *lab.ToolError
	if !errors.As(err, &te) || len(te.Message) > 2100 || !strings.HasSuffix(te.Message, "initdb: error: the last word") {
		t.Fatalf("StartWith: %v", err)
	}
	assertNothingLeft(t, tmp)
}

func TestStartReportsPortInUse(t *testing.T) {
	bin := systemBinDir(t)
	labtest.Slow(t, "runs initdb")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tmp := labtest.ServerTempDir(t)
	port := l.Addr().(*net.TCPAddr).Port
	c, err := lab.StartWith(context.Background(), lab.Options{BinDir: bin, Port: port})
	var te *lab.ToolError
	if c != nil || !errors.As(err, &te) || te.Tool != "pg_ctl start" || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("StartWith on a port in use = %v, %v; want pg_ctl start's error with the server's message", c, err)
	}
	assertNothingLeft(t, tmp)
}

// TestStartInterrupted cancels the start as each step begins: the error
// says so, and nothing is left (a running server is stopped).
func TestStartInterrupted(t *testing.T) {
	bin := systemBinDir(t)
	labtest.Slow(t, "starts servers")
	for _, at := range []string{"generating a CA", "initdb ", "starting postgres", "creating roles"} {
		t.Run(strings.Fields(at)[0], func(t *testing.T) {
			tmp := labtest.ServerTempDir(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var said []string
			progress := func(s string) {
				said = append(said, s)
				if strings.HasPrefix(s, at) {
					cancel()
				}
			}
			c, err := lab.StartWith(ctx, lab.Options{BinDir: bin, Progress: progress})
			if c != nil || !errors.Is(err, context.Canceled) {
				t.Fatalf("StartWith cancelled at %q = %v, %v (progress %q)", at, c, err, said)
			}
			assertNothingLeft(t, tmp)
		})
	}
}

// TestStartInterruptedDuringInitdb cancels while initdb runs: it gets
// SIGINT, as from Ctrl-C (whatever this process inherited), and the start
// returns the interruption and leaves nothing.
func TestStartInterruptedDuringInitdb(t *testing.T) {
	tmp, err := interruptDuringInitdb(t, "exec env --default-signal=INT sleep 3001")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("StartWith cancelled during initdb: %v", err)
	}
	assertNothingLeft(t, tmp, "sleep 3001")
}

// TestStartKillsAnInitdbThatIgnoresSIGINT: a tool that ignores SIGINT
// is killed, its process group with it, after the grace period.
func TestStartKillsAnInitdbThatIgnoresSIGINT(t *testing.T) {
	defer lab.SetInterruptGrace(100 * time.Millisecond)()
	tmp, err := interruptDuringInitdb(t, "trap '' INT; sleep 3002; sleep 3002")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("StartWith cancelled during initdb: %v", err)
	}
	// Killed processes may not be gone from /proc yet: the directory is
	// what is checked here.
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Fatalf("left in %s: %v %v", tmp, entries, err)
	}
}

// interruptDuringInitdb runs StartWith with an initdb that says it has
// started (through a FIFO) and then runs script, cancels the start once
// initdb has said so, and returns the start's TMPDIR and error.
func interruptDuringInitdb(t *testing.T, script string) (tmp string, err error) {
	t.Helper()
	fifoDir, err := os.MkdirTemp("", "securepg-fifo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(fifoDir) })
	fifo := filepath.Join(fifoDir, "started")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifoDir, fifo} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	bin := fakeBinDir(t, "echo started > "+fifo+"; "+script)
	tmp = labtest.ServerTempDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		c   *lab.Cluster
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := lab.StartWith(ctx, lab.Options{BinDir: bin})
		done <- result{c, err}
	}()
	started := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(fifo) // returns when initdb has written and closed it
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case r := <-done:
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close() // lets the reader go
		}
		t.Fatalf("StartWith returned before initdb ran: %v, %v", r.c, r.err)
	}
	cancel()
	r := <-done
	if r.c != nil {
		t.Fatalf("an interrupted StartWith returned a cluster: %v", r.err)
	}
	return tmp, r.err
}

// TestStopIsSafe: Stop on nil and twice does nothing more.
func TestStopIsSafe(t *testing.T) {
	var c *lab.Cluster
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	bin := systemBinDir(t)
	labtest.Slow(t, "starts a server")
	tmp := labtest.ServerTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := lab.StartWith(ctx, lab.Options{BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	assertNothingLeft(t, tmp)
}
