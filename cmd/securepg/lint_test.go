package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// writeModule writes a throwaway module that needs nothing but the
// standard library (driver names are strings).
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/svc\n\ngo 1.26\n"
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// reported is the file:line of each reported line, in order.
func reported(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		m := regexp.MustCompile(`^(.+):(\d+):\d+: (.+)$`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not file:line:col: message: %q", line)
		}
		if !strings.Contains(m[3], "bypasses the securepg policy") {
			t.Fatalf("unexpected message: %q", line)
		}
		got = append(got, filepath.Base(m[1])+":"+m[2])
	}
	return got
}

// TestLintSubcommand: findings exit 3, a clean run 0, and packages that
// cannot be loaded (a type error, a missing package or import, a bad
// pattern, no such directory) exit 2, never 0 or 3.
func TestLintSubcommand(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"svc.go": `package svc

import "database/sql"

func open(dsn string) {
	sql.Open("postgres", dsn)
	sql.Open("securepg", dsn)
	//securepg:allow a local tool
	sql.Open("pgx", dsn)
}
`,
		"svc_test.go": `package svc

import (
	"database/sql"
	"testing"
)

func TestOpen(t *testing.T) { sql.Open("pgx/v5", "") }
`,
		"clean/clean.go": `package clean

import "database/sql"

func open(dsn string) { sql.Open("securepg-pq", dsn) }
`,
		"broken/broken.go":   "package broken\n\nfunc f() { undefined() }\n",
		"missing/missing.go": "package missing\n\nimport _ \"example.com/nowhere/pkg\"\n",
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"tests included by default", []string{"-C", dir, ".", "./clean"}, exitRefused, []string{"svc.go:6", "svc_test.go:8"}},
		{"without tests", []string{"-C", dir, "-test=false", "."}, exitRefused, []string{"svc.go:6"}},
		{"nothing found", []string{"-C", dir, "./clean"}, exitOK, nil},
		{"a package that does not type-check", []string{"-C", dir, "./broken"}, exitUsage, nil},
		{"no such package", []string{"-C", dir, "./nowhere"}, exitUsage, nil},
		{"a missing import", []string{"-C", dir, "./missing"}, exitUsage, nil},
		{"a bad pattern", []string{"-C", dir, "example.com/svc/[bad"}, exitUsage, nil},
		{"no such directory", []string{"-C", filepath.Join(dir, "nowhere"), "./..."}, exitUsage, nil},
		{"bad flag", []string{"-frobnicate"}, exitUsage, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, "", append([]string{"lint"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.out, r.errOut)
			}
			if got := reported(t, r.out); !slices.Equal(got, tc.want) {
				t.Fatalf("reported %q, want %q", got, tc.want)
			}
			if tc.code == exitRefused && !regexp.MustCompile(`securepg lint: \d+ findings?\n`).MatchString(r.errOut) {
				t.Fatalf("no summary on stderr: %q", r.errOut)
			}
			if tc.code == exitUsage && len(tc.args) > 1 && !strings.HasPrefix(r.errOut, "securepg: lint: ") {
				t.Fatalf("stderr: %q", r.errOut)
			}
			// The compiler's error, once, on a line of its own.
			if tc.name == "a package that does not type-check" && (strings.Count(r.errOut, "undefined: undefined") != 1 || strings.Contains(r.errOut, `\n`)) {
				t.Fatalf("stderr: %q", r.errOut)
			}
		})
	}
}

// TestLintRepositoryReportsNothing: the analyzer finds no bypass in the
// root package's code (its tests open plain connections on purpose, to
// compare) nor in any example module or the ORM integrations module,
// tests included.
func TestLintRepositoryReportsNothing(t *testing.T) {
	labtest.Slow(t, "loads the example modules and their dependencies")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// Each module as its own go.mod builds it: the workspace (go.work)
	// holds only the driver, cmd and lint.
	t.Setenv("GOWORK", "off")
	runs := [][]string{{"-C", root, "-test=false", "."}}
	mods, err := filepath.Glob(filepath.Join(root, "examples", "*", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no example module under examples/")
	}
	if _, err := os.Stat(filepath.Join(root, "integrations", "go.mod")); err == nil {
		mods = append(mods, filepath.Join(root, "integrations", "go.mod"))
	}
	for _, m := range mods {
		runs = append(runs, []string{"-C", filepath.Dir(m), "./..."})
	}
	for _, args := range runs {
		r := cli(t, "", append([]string{"lint"}, args...)...)
		if r.code != exitOK || r.out != "" {
			t.Errorf("securepg lint %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.errOut)
		}
	}
}
