package labtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// ServerTempDir points TMPDIR at a new, empty directory for the test, one
// that the lab's server user can traverse (a t.TempDir is private to
// root), and returns it: what a lab start makes goes there, so that
// Leftovers can tell what it left. It is removed at the end.
func ServerTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "securepg-test-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", dir)
	return dir
}

// Leftovers lists what is left under dir: its entries, and the processes
// (from /proc, where there is one) whose command line names dir or one
// of also.
func Leftovers(t testing.TB, dir string, also ...string) []string {
	t.Helper()
	var left []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		left = append(left, filepath.Join(dir, e.Name()))
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err != nil {
			continue // it exited
		}
		for _, s := range append([]string{dir}, also...) {
			if bytes.Contains(cmd, []byte(s)) {
				left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
				break
			}
		}
	}
	return left
}
