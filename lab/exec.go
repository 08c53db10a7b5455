package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// interruptGrace is how long a tool's process group has to exit after its
// context is done and it was sent SIGINT, before it is killed (a variable
// for the tests).
var interruptGrace = 10 * time.Second

// run runs one of the server's programs as the server user, in a process
// group of its own. When ctx is done the group gets SIGINT, as Ctrl-C in
// a terminal would send it (initdb then removes what it made, pg_ctl
// start stops the server it was starting), and SIGKILL if it is still
// there interruptGrace later, or once run's child has exited: nothing of
// the group outlives an interrupted run.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.binDir, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var (
		mu       sync.Mutex
		finished bool
		escalate *time.Timer
	)
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	cmd.Cancel = func() error {
		mu.Lock()
		escalate = time.AfterFunc(interruptGrace, kill)
		mu.Unlock()
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	cmd.WaitDelay = 2 * interruptGrace
	// The server must not inherit the test's PG* settings.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	mu.Lock()
	interrupted := escalate != nil
	if interrupted {
		escalate.Stop()
	}
	mu.Unlock()
	if interrupted {
		// What is left of the group (a child that ignored SIGINT and
		// whose parent was killed) keeps its number from being reused.
		kill()
	}
	mu.Lock()
	finished = true
	mu.Unlock()
	return out, err
}

// tool runs a program as run does and turns its failure into an error
// that carries what it said (and what the files in also say, e.g. the
// server's log), or says it was interrupted.
func (c *Cluster) tool(ctx context.Context, what string, also []string, name string, args ...string) error {
	out, err := c.run(ctx, name, args...)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("lab: %s: interrupted: %w", what, context.Cause(ctx))
	}
	outs := [][]byte{out}
	for _, f := range also {
		if b, rerr := os.ReadFile(f); rerr == nil {
			outs = append(outs, b)
		}
	}
	return &ToolError{Tool: what, Message: toolMessage(outs...), Err: err}
}

// ToolError is a server program (initdb, pg_ctl, pg_basebackup) that
// failed, with what it and the server said.
type ToolError struct {
	Tool    string // e.g. "initdb", "pg_ctl start"
	Message string // the last lines of its output and the server's log, escaped, at most maxToolMessage bytes
	Err     error  // how it ended, e.g. an *exec.ExitError
}

func (e *ToolError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("lab: %s: %v", e.Tool, e.Err)
	}
	return fmt.Sprintf("lab: %s: %v: %s", e.Tool, e.Err, e.Message)
}

func (e *ToolError) Unwrap() error { return e.Err }

// maxToolMessage bounds ToolError.Message.
const maxToolMessage = 2000

// toolMessage is the non-blank lines of outs, each escaped, joined by
// " | ", and cut to their last maxToolMessage bytes: where initdb and the
// server say what went wrong.
func toolMessage(outs ...[]byte) string {
	var lines []string
	for _, out := range outs {
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, escapeControl(l))
			}
		}
	}
	msg := strings.Join(lines, " | ")
	if len(msg) <= maxToolMessage {
		return msg
	}
	cut := len(msg) - maxToolMessage
	for cut < len(msg) && !utf8.RuneStart(msg[cut]) {
		cut++
	}
	return "..." + msg[cut:]
}

// escapeControl writes control and format characters (a terminal's
// escape sequences, bidirectional overrides) and invalid UTF-8 as Go
// escapes.
func escapeControl(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func (c *Cluster) chown(paths ...string) error {
	if c.runAs == "" {
		return nil
	}
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// postmasterPID is the pid in the data directory's postmaster.pid, or 0.
func postmasterPID(data string) int {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

var errStillRunning = errors.New("lab: the server's process is still running")
