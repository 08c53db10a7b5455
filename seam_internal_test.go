package securepg

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/securepg/securepg/internal/seam"
)

// TestNoMockPathWithoutSqlmocktest: this test binary does not link
// sqlmocktest, and so has no way to replace the network: the lookup hook
// is nil. Neither the driver nor the command depends on go-sqlmock.
func TestNoMockPathWithoutSqlmocktest(t *testing.T) {
	if seam.LookupMock != nil {
		t.Fatal("a mock lookup is installed in a binary without sqlmocktest")
	}
	for _, pkg := range []string{".", "./cmd/securepg"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range []string{"go-sqlmock", "securepg/sqlmocktest"} {
			if strings.Contains(string(out), dep) {
				t.Fatalf("%s depends on %s", pkg, dep)
			}
		}
	}
}
