package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestGoVetVettool builds securepg-vet and runs it under go vet, and by
// itself, on a fixture module that uses the real pgx and lib/pq
// (testdata/mod): the package that bypasses the policy is reported line by
// line and fails the run; the one that goes through securepg (or accepts
// a call with securepg:allow) passes.
func TestGoVetVettool(t *testing.T) {
	labtest.Slow(t, "builds the vet tool and vets a module that uses pgx and lib/pq")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(t.TempDir(), "securepg-vet")
	if out, err := exec.CommandContext(t.Context(), gobin, "build", "-o", tool, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	mod, err := filepath.Abs(filepath.Join("testdata", "mod"))
	if err != nil {
		t.Fatal(err)
	}
	runIn := func(name string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOWORK=off")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &exit):
			return out.String(), exit.ExitCode()
		}
		t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
		return "", 0
	}
	lines := func(out string) []string {
		var got []string
		for _, m := range regexp.MustCompile(`(?m)^\S*bad\.go:(\d+):\d+: (.*bypasses the securepg policy.*)$`).FindAllStringSubmatch(out, -1) {
			got = append(got, m[1])
		}
		return got
	}
	want := []string{"16", "17", "18", "19"}

	out, code := runIn(gobin, "vet", "-vettool="+tool, "./bad")
	if code == 0 || !slices.Equal(lines(out), want) {
		t.Errorf("go vet -vettool ./bad: exit %d, reported lines %q, want a failure and %q\n%s", code, lines(out), want, out)
	}
	if out, code := runIn(gobin, "vet", "-vettool="+tool, "./good"); code != 0 {
		t.Errorf("go vet -vettool ./good: exit %d\n%s", code, out)
	}
	// go vet's own analyzers run too: a -vettool replaces go vet's tool.
	if out, code := runIn(gobin, "vet", "-vettool="+tool, "./std"); code == 0 || !regexp.MustCompile(`std\.go:8:\d+: fmt\.Printf format %d has arg name of wrong type string`).MatchString(out) {
		t.Errorf("go vet -vettool ./std: exit %d, want the printf check's report\n%s", code, out)
	}

	// By itself (singlechecker): exit 3 when something is found.
	out, code = runIn(tool, "./bad", "./good")
	if code != 3 || !slices.Equal(lines(out), want) {
		t.Errorf("securepg-vet ./...: exit %d, reported lines %q, want 3 and %q\n%s", code, lines(out), want, out)
	}
}

// TestDocsRecipeFailsWithoutTool: the vet recipe in docs/lint.md fails when
// securepg-vet is not installed (go vet -vettool=$(which securepg-vet)
// would run go vet's own tool and pass).
func TestDocsRecipeFailsWithoutTool(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "docs", "lint.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sh\n(set -e\n[^`]*go vet -vettool[^`]*)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("docs/lint.md has no sh block with set -e and go vet -vettool")
	}
	if regexp.MustCompile(`\$\(which `).Match(m[1]) {
		t.Fatalf("the recipe uses $(which ...), which passes when the tool is missing:\n%s", m[1])
	}
	var script []string
	for _, line := range strings.Split(string(m[1]), "\n") {
		if !strings.HasPrefix(line, "go install") { // no network: the tool stays missing
			script = append(script, strings.ReplaceAll(line, "./...", "./good"))
		}
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	sh := func(script string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), "/bin/sh", "-c", script)
		cmd.Dir = filepath.Join("testdata", "mod")
		// go on PATH, securepg-vet not.
		cmd.Env = append(os.Environ(), "GOWORK=off", "PATH="+filepath.Dir(gobin)+":/usr/bin:/bin")
		return cmd.CombinedOutput()
	}
	// The old recipe passes without the tool; the documented one must not.
	if out, err := sh("go vet -vettool=$(which securepg-vet) ./good"); err != nil {
		t.Fatalf("the unguarded recipe failed, so this test proves nothing: %v\n%s", err, out)
	}
	if out, err := sh(strings.Join(script, "\n")); err == nil {
		t.Fatalf("the recipe passed without securepg-vet:\n%s\n%s", strings.Join(script, "\n"), out)
	}
}
