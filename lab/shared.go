package lab

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the cluster shared by every test of this test binary,
// starting it on first use. Under CI=true a cluster that cannot start fails
// the test; elsewhere the test is skipped. Call RunMain from TestMain so
// the cluster is stopped at the end.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.c, shared.err = Start(ctx, nil)
	})
	if shared.err != nil {
		Unavailable(t, shared.err)
	}
	return shared.c
}

// Unavailable fails (CI=true) or skips t because the lab cannot run.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL test lab unavailable under CI=true: %v", err)
	}
	t.Skipf("PostgreSQL test lab unavailable (set CI=true to make this a failure): %v", err)
}

// RunMain runs the tests and stops the shared cluster, if one started.
func RunMain(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
