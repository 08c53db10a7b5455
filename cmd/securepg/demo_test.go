package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// demoChildEnv makes the test binary run the demo instead of its tests
// (not a SECUREPG_ name: securepg refuses unknown ones).
const demoChildEnv = "GO_TEST_SECUREPG_DEMO_CHILD"

// demoRun is one run of the demo as a child process.
type demoRun struct {
	status         syscall.WaitStatus
	stdout, stderr string
	signalled      bool // the trigger line was seen and the signal sent
}

// runDemo runs the demo in a child process with the test's environment
// (TMPDIR included) plus env, and sends it sig when it prints a line
// that contains trigger ("" never does).
func runDemo(t *testing.T, trigger string, sig os.Signal, env ...string) demoRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), demoChildEnv+"=1", "NO_COLOR=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var r demoRun
	var stdout strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		stdout.WriteString(line + "\n")
		if trigger != "" && !r.signalled && strings.Contains(line, trigger) {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Error(err)
			}
			r.signalled = true
		}
	}
	io.Copy(io.Discard, pipe)
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	r.status = cmd.ProcessState.Sys().(syscall.WaitStatus)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// assertFailedCleanly fails t when the demo panicked or was ended by a signal
// instead of exiting with code.
func (r demoRun) assertFailedCleanly(t *testing.T, code int) {
	t.Helper()
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("the demo panicked:\n%s", r.stderr)
	}
	if !r.status.Exited() || r.status.ExitStatus() != code {
		t.Fatalf("the demo ended with %v, want exit status %d; stdout:\n%s\nstderr:\n%s", r.status, code, r.stdout, r.stderr)
	}
}

// assertNothingLeft fails t when anything is left in tmp, or a process
// names it (the server's command line names its data directory).
func assertNothingLeft(t *testing.T, tmp string) {
	t.Helper()
	if left := labtest.Leftovers(t, tmp); len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestDemoInterrupted sends the demo SIGINT (as Ctrl-C does), or SIGTERM,
// at points of its run, each when it prints the line that starts that
// point: as initdb runs, while the server starts (pg_ctl start -w), and
// in later steps with the server up. Each time the demo exits with status 130
// and "demo: interrupted", does not panic, and leaves no directory in
// its TMPDIR and no process naming it (the server's -D names its data
// directory).
func TestDemoInterrupted(t *testing.T) {
	if _, err := lab.FindBinDir(); err != nil {
		labtest.Unavailable(t, err)
	}
	labtest.Slow(t, "starts servers")
	for _, tc := range []struct {
		name, trigger string
		sig           os.Signal
		started       bool // the server was up: the demo says it cleaned up
	}{
		{"initdb", "      initdb ", syscall.SIGINT, false},
		{"server starting", "      starting postgres on 127.0.0.1", syscall.SIGINT, false},
		{"server starting/SIGTERM", "      starting postgres on 127.0.0.1", syscall.SIGTERM, false},
		{"step 3", "[3/8]", syscall.SIGINT, true},
		{"step 5", "[5/8]", syscall.SIGINT, true},
		{"step 5/SIGTERM", "[5/8]", syscall.SIGTERM, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := labtest.ServerTempDir(t)
			r := runDemo(t, tc.trigger, tc.sig)
			if !r.signalled {
				t.Fatalf("the demo never printed %q; stdout:\n%s\nstderr:\n%s", tc.trigger, r.stdout, r.stderr)
			}
			r.assertFailedCleanly(t, exitInterrupted)
			if got := strings.TrimSpace(r.stderr); got != "securepg: demo: interrupted" {
				t.Fatalf("stderr %q, want the short interruption message", got)
			}
			if tc.started != strings.Contains(r.stdout, "cleaned up: stopped PostgreSQL and removed ") {
				t.Fatalf("cleanup report (want it: %v) in:\n%s", tc.started, r.stdout)
			}
			assertNothingLeft(t, tmp)
		})
	}
}

// TestDemoFailedStart: an initdb that fails (the first on PATH, which
// lab.FindBinDir prefers) makes the demo exit with status 1 and initdb's
// own message, with no panic and nothing left behind.
func TestDemoFailedStart(t *testing.T) {
	bin, err := os.MkdirTemp("", "securepg-fakebin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	if err := os.Chmod(bin, 0o755); err != nil { // the server user runs them when we are root
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"initdb":   `echo "initdb: error: could not create directory: the disk is on fire" >&2; exit 1`,
		"pg_ctl":   "exit 1",
		"postgres": "exit 1",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tmp := labtest.ServerTempDir(t)
	r := runDemo(t, "", nil, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	r.assertFailedCleanly(t, exitError)
	if !strings.Contains(r.stderr, "initdb: error: could not create directory: the disk is on fire") {
		t.Fatalf("stderr does not carry initdb's message:\n%s", r.stderr)
	}
	assertNothingLeft(t, tmp)
}
