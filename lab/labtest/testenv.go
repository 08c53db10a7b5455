package labtest

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// Slow marks a slow test: `go test -short` skips it on a workstation.
// Under CI=true it always runs: CI runs every test, and a test that cannot
// run there fails instead of skipping.
func Slow(t testing.TB, why string) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("slow (go test without -short runs it): " + why)
	}
}

// ClearPG isolates the drivers' parsers from the machine: no PG*
// variables, and an empty HOME.
func ClearPG(t testing.TB) string {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

// Allocated is what f allocated, in bytes.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
