package labtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
)

// sharedCluster is one cluster started on first use and stopped by RunMain.
type sharedCluster struct {
	once sync.Once
	c    *lab.Cluster
	err  error
}

func (s *sharedCluster) get(t testing.TB, start func(context.Context) (*lab.Cluster, error)) *lab.Cluster {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.c, s.err = start(ctx)
	})
	if s.err != nil {
		Unavailable(t, s.err)
	}
	return s.c
}

var (
	shared   sharedCluster
	sharedMu sync.Mutex
	versions = map[int]*sharedCluster{}
)

// Shared returns the cluster shared by every test of this test binary,
// started from the system's binaries (lab.FindBinDir) on first use. Under
// CI=true a cluster that cannot start fails the test; elsewhere the test
// is skipped. Call RunMain from TestMain so the cluster is stopped at the
// end.
func Shared(t testing.TB) *lab.Cluster {
	t.Helper()
	return shared.get(t, func(ctx context.Context) (*lab.Cluster, error) { return lab.Start(ctx, nil) })
}

// SharedVersion is Shared for a given major version of the server, found
// by lab.FindVersionBinDir (e.g. SharedVersion(t, 18) for the PostgreSQL 18
// that .ci/install-pg installs): one cluster per version, beside Shared's.
// Under CI=true missing binaries fail the test; elsewhere it is skipped.
func SharedVersion(t testing.TB, major int) *lab.Cluster {
	t.Helper()
	sharedMu.Lock()
	s := versions[major]
	if s == nil {
		s = &sharedCluster{}
		versions[major] = s
	}
	sharedMu.Unlock()
	return s.get(t, func(ctx context.Context) (*lab.Cluster, error) {
		bin, err := lab.FindVersionBinDir(ctx, major)
		if err != nil {
			return nil, err
		}
		c, err := lab.StartWith(ctx, lab.Options{BinDir: bin})
		if err == nil && c.Major != major {
			c.Stop()
			return nil, fmt.Errorf("lab: the server in %s is PostgreSQL %d, not %d", bin, c.Major, major)
		}
		return c, err
	})
}

// Unavailable fails (CI=true) or skips t because the lab cannot run.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL test lab unavailable under CI=true: %v", err)
	}
	t.Skipf("PostgreSQL test lab unavailable (set CI=true to make this a failure): %v", err)
}

// RunMain runs the tests and stops the shared clusters that started.
func RunMain(m *testing.M) int {
	code := m.Run()
	all := []*sharedCluster{&shared}
	sharedMu.Lock()
	for _, s := range versions {
		all = append(all, s)
	}
	sharedMu.Unlock()
	for _, s := range all {
		if s.c == nil {
			continue
		}
		if err := s.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
