package securepg_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityDocNamesRealTests: every test SECURITY.md names exists, and
// every matrix case it names is in the policy matrix, so the threat model
// cannot point at proof that is gone.
func TestSecurityDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	var tests strings.Builder
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tests.Write(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)[^`]*`").FindAllSubmatch(doc, -1)
	if len(names) < 30 {
		t.Fatalf("SECURITY.md names only %d tests", len(names))
	}
	for _, m := range names {
		if !strings.Contains(tests.String(), "func "+string(m[1])+"(") {
			t.Errorf("SECURITY.md names %s, which does not exist", m[1])
		}
	}
	cases := map[string]bool{}
	for _, c := range labCases() {
		cases[c.name] = true
	}
	refs := regexp.MustCompile("matrix ((?:`[^`]+`(?:, )?)+)").FindAllSubmatch(doc, -1)
	if len(refs) < 10 {
		t.Fatalf("SECURITY.md names only %d matrix references", len(refs))
	}
	for _, r := range refs {
		for _, n := range regexp.MustCompile("`([^`]+)`").FindAllSubmatch(r[1], -1) {
			if !cases[string(n[1])] {
				t.Errorf("SECURITY.md names matrix case %q, which does not exist", n[1])
			}
		}
	}
}
