package securepg_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDriverModuleIsLean: the driver's module requires nothing for the
// command-line tool or the lint (they are modules of their own), and a
// program that imports the driver links neither the OTel SDK, nor
// golang.org/x/tools, nor package testing, nor go-sqlmock; nor lib/pq,
// which only package libpq (the lib/pq backend) links.
func TestDriverModuleIsLean(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mod), "golang.org/x/tools") {
		t.Error("go.mod requires golang.org/x/tools: the lint's dependency belongs to its own module")
	}
	for _, pkg := range []string{".", "./hooks", "./otel", "./libpq"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s: %d packages: not a dependency list", pkg, len(deps))
		}
		pq := false
		for _, d := range deps {
			pq = pq || d == "github.com/lib/pq"
			if d == "testing" || strings.HasPrefix(d, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(d, "golang.org/x/tools") || strings.Contains(d, "go-sqlmock") {
				t.Errorf("%s links %s", pkg, d)
			}
		}
		if pq != (pkg == "./libpq") {
			t.Errorf("%s links lib/pq: %v (only ./libpq may, and must)", pkg, pq)
		}
	}
}
