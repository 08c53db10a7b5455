package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/pqconn"
	"github.com/securepg/securepg/internal/telemetry"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRefused = 3
	// exitInterrupted: the demo was interrupted (Ctrl-C, SIGTERM) and
	// cleaned up, as a shell reports a command ended by SIGINT.
	exitInterrupted = 130
)

const usage = `securepg: PostgreSQL connections that are secure by policy

usage:
  securepg demo                          start a throwaway PostgreSQL with TLS and show securepg at work
  securepg check [--json] [--driver securepg|securepg-pq]
                                         judge the DSN in DATABASE_URL (or on standard input), offline
  securepg probe [--json] [--downgrade-test] [--driver securepg|securepg-pq]
                                         connect through the policy and report the connection's security
  securepg probe --targets FILE|- [--parallel N] [--timeout D] [--json] [--downgrade-test]
                                         a fleet report: every DSN or host:port of FILE, one per line
  securepg policy [--json]               print the effective policy and where each value comes from
  securepg lint [-C dir] [-test=false] [packages]
                                         report calls that open PostgreSQL connections without securepg
  securepg version

The DSN is read from DATABASE_URL, or from standard input when DATABASE_URL
is empty; never from the command line, as shells keep history.

exit codes: 0 allowed, 3 refused by the policy, 2 usage or configuration error, 1 other error
(demo: 130 interrupted)
(probe --targets: 0 every target passes, 3 one fails, else 1 one is unreachable or in error)
`

// env is a command's streams. The process environment is read where the
// drivers read it, from os.Getenv: tests set it with t.Setenv.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	color          bool
	bound          time.Duration // a command's overall bound; 0: its documented one (tests shorten it)
	driverName     string        // check's and probe's --driver: the name the program opens
	verifiedOnly   bool          // probe --targets: no startup message to a server not verified as asked
}

// driverFlag is check's and probe's --driver: the driver name the
// program passes to sql.Open, which chooses the backend (and its parser).
func (e *env) driverFlag(fs *flag.FlagSet) {
	fs.StringVar(&e.driverName, "driver", securepg.DriverName,
		"the driver name the program opens: "+securepg.DriverName+" (pgx) or "+libpq.DriverName+" (lib/pq)")
}

// backend is the backend the --driver name chooses.
func (e *env) backend() (string, error) {
	switch e.driverName {
	case securepg.DriverName, "":
		return core.DriverPgx, nil
	case libpq.DriverName:
		return core.DriverPQ, nil
	}
	return "", fmt.Errorf("--driver %s: want %s (pgx) or %s (lib/pq)", core.SafeText(e.driverName), securepg.DriverName, libpq.DriverName)
}

// backendOption is the securepg.Option of the backend --driver chooses
// (nil: pgx, the default).
func (e *env) backendOption() securepg.Option {
	if e.driverName == libpq.DriverName {
		return libpq.Backend()
	}
	return nil
}

// prepare is core.Prepare with the policy's backend: pgx's, or lib/pq's
// from package pqconn (the CLI links both).
func prepare(dsn string, p core.Policy) (core.Backend, core.Plan, error) {
	if p.Driver == core.DriverPQ {
		return pqconn.Prepare(dsn, p)
	}
	return core.Prepare(dsn, p)
}

// redactDSN is core.RedactDSN with driver's own parser.
func redactDSN(driver, dsn string) string {
	parse := core.ParsePgx
	if driver == core.DriverPQ {
		parse = pqconn.Parse
	}
	return core.RedactDSN(driver, dsn, parse)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, color: colorful(stdout)}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return e.demo(ctx, rest)
	case "check":
		return e.check(ctx, rest)
	case "probe":
		return e.probe(ctx, rest)
	case "policy":
		return e.policy(rest)
	case "lint":
		return e.lint(ctx, rest)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "securepg", version())
		return exitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "securepg: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func version() string {
	v := telemetry.Version
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}

// flags parses a command's flags; a positional argument is refused, as it
// could only be a DSN on the command line.
func (e *env) flags(name string, args []string, define func(*flag.FlagSet)) (bool, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, exitOK
		}
		return false, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "securepg %s: unexpected argument: the DSN is read from DATABASE_URL or standard input, never from the command line (shells keep history)\n", name)
		return false, exitUsage
	}
	return true, exitOK
}

// readDSN takes the DSN from DATABASE_URL, or else from standard input:
// exactly the bytes sql.Open would get, nothing trimmed (a trailing
// newline is part of what is judged), and refused rather than cut when
// longer than securepg accepts.
func (e *env) readDSN() (dsn string, fromStdin bool, err error) {
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		return dsn, false, nil
	}
	if f, ok := e.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", false, errors.New("no DSN: set DATABASE_URL, or pipe the DSN on standard input")
		}
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, core.MaxDSNSize+1))
	if err != nil {
		return "", false, err
	}
	if len(b) > core.MaxDSNSize {
		return "", false, fmt.Errorf("the DSN on standard input is longer than %d bytes, which securepg refuses; nothing was judged", core.MaxDSNSize)
	}
	if len(b) == 0 {
		return "", false, errors.New("no DSN: set DATABASE_URL, or pipe the DSN on standard input")
	}
	return string(b), true, nil
}

// policyFromEnv reads the SECUREPG_* policy and loads its files. Like
// sql.Open, it also rejects an invalid SECUREPG_OPERATION_SPANS.
func (e *env) policyFromEnv() (core.Policy, error) {
	p, err := core.PolicyFromEnv()
	if err != nil {
		return p, err
	}
	if err := (&telemetry.Settings{}).ReadEnv(); err != nil {
		return p, err
	}
	return p, p.Load()
}

func (e *env) writeJSON(v any) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// fail reports an error, escaped: it may quote the environment or a file.
func (e *env) fail(code int, format string, args ...any) int {
	fmt.Fprintln(e.stderr, core.SafeText("securepg: "+fmt.Sprintf(format, args...)))
	return code
}

// colorful: only on a terminal, and never with NO_COLOR set.
func colorful(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (e *env) paint(code, s string) string {
	if !e.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (e *env) green(s string) string { return e.paint("32", s) }
func (e *env) red(s string) string   { return e.paint("31", s) }
func (e *env) bold(s string) string  { return e.paint("1", s) }
