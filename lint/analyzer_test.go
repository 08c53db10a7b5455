package lint_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/securepg/securepg/lint"
)

// TestAnalyzerFixtures runs the analyzer over a fixture per pattern
// (testdata/src, GOPATH style, with stubs of pgx, lib/pq, GORM, sqlx,
// otelsql, bun and securepg's API) and checks that exactly the calls marked
// with a want comment are reported, with their messages. The fixture good
// is the false-positive one: the ways securepg is meant to be used
// (sql.Open with its driver names, securepg-configured pools and conns,
// its listener and dialer, GORM with DriverName "securepg") report
// nothing; each fixture also has calls that must not be reported.
func TestAnalyzerFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: type-checks the fixtures and the standard library they import")
	}
	res := analysistest.Run(t, analysistest.TestData(), lint.Analyzer,
		"sqlopen", "pgxnative", "pool", "stdlibconn", "pqconn", "gormpg", "pgxv4", "bunpg", "allow", "good")
	analyzed := false
	for _, r := range res {
		if r.Action.Package.PkgPath != "good" {
			continue
		}
		analyzed = r.Err == nil
		for _, d := range r.Diagnostics {
			t.Errorf("%s: a false positive: %s", r.Action.Package.Fset.Position(d.Pos), d.Message)
		}
	}
	if !analyzed {
		t.Fatal("the good fixture was not analyzed")
	}
}
