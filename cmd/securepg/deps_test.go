package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLabAndCLIDoNotLinkTesting: the securepg binary, and package lab
// that its demo runs, do not link package testing (its flags and its
// init would come with it); what takes a testing.TB is in lab/labtest.
func TestLabAndCLIDoNotLinkTesting(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is needed under CI=true: %v", err)
		}
		t.Skipf("no go command: %v", err)
	}
	for _, pkg := range []string{"github.com/securepg/securepg/cmd/securepg", "github.com/securepg/securepg/lab"} {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || deps[len(deps)-1] != pkg {
			t.Fatalf("go list -deps %s listed %d packages, ending with %q: not a dependency list", pkg, len(deps), deps[len(deps)-1:])
		}
		for _, d := range deps {
			if d == "testing" {
				t.Errorf("%s links package testing", pkg)
			}
		}
	}
}
