package lint_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/securepg/securepg/lint"
)

// TestAnalyzerFixtures runs the analyzer over a fixture per pattern
// (testdata/src, GOPATH style, with stubs of pgx, lib/pq, GORM, sqlx,
// otelsql, bun and securepg's API) and checks that exactly the calls marked
// with a want comment are reported, with their messages.
func TestAnalyzerFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: type-checks the fixtures and the standard library they import")
	}
	analysistest.Run(t, analysistest.TestData(), lint.Analyzer,
		"sqlopen", "pgxnative", "pool", "stdlibconn", "pqconn", "gormpg", "pgxv4", "bunpg", "allow")
}

// TestAnalyzerNoFalsePositives: the ways securepg is meant to be used
// (sql.Open with its driver names, securepg-configured pools, conns and
// listeners, GORM with DriverName "securepg") report nothing.
func TestAnalyzerNoFalsePositives(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: type-checks the fixture and the standard library it imports")
	}
	res := analysistest.Run(t, analysistest.TestData(), lint.Analyzer, "good")
	if len(res) == 0 {
		t.Fatal("the good fixture was not analyzed")
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("analysis of %s failed: %v", r.Action.Package.PkgPath, r.Err)
		}
		for _, d := range r.Diagnostics {
			t.Errorf("%s: unexpected report: %s", r.Action.Package.Fset.Position(d.Pos), d.Message)
		}
	}
}
