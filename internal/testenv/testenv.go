// Package testenv holds what securepg's tests share about where they run.
package testenv

import (
	"os"
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
