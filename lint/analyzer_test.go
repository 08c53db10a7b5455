package lint_test

import (
	"os"
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
	slow(t, "type-checks the fixtures and the standard library they import")
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

// TestAnalyzerConfigCopies: securepg.OpenDB copies the configuration it
// is given, so a pgx.ConnectConfig,
// pgxpool.NewWithConfig or stdlib.OpenDB on it afterwards is reported;
// only securepg.ConfigurePgx and securepg.ConfigurePool configure it. A
// lib/pq connector handed to libpq.ConnectorWithNoticeHandler is
// reported too.
func TestAnalyzerConfigCopies(t *testing.T) {
	slow(t, "type-checks the fixture and the standard library it imports")
	analysistest.Run(t, analysistest.TestData(), lint.Analyzer, "configcopy")
}

// TestAnalyzerAllowScope: a trailing securepg:allow comment accepts its
// own line only, one alone on its line the line below; a directive with
// no reason is reported and accepts nothing.
func TestAnalyzerAllowScope(t *testing.T) {
	slow(t, "type-checks the fixture and the standard library it imports")
	analysistest.Run(t, analysistest.TestData(), lint.Analyzer, "allowscope")
}

// TestAnalyzerGormDialector: a postgres.Dialector literal is judged like
// postgres.New's Config.
func TestAnalyzerGormDialector(t *testing.T) {
	slow(t, "type-checks the fixture and the standard library it imports")
	analysistest.Run(t, analysistest.TestData(), lint.Analyzer, "gormdialector")
}

// TestAnalyzerDriverRegister: pgx's and lib/pq's database/sql drivers
// registered under another name (sql.Register, otelsql.Register,
// otelsql.WrapDriver) or opened directly are reported.
func TestAnalyzerDriverRegister(t *testing.T) {
	slow(t, "type-checks the fixture and the standard library it imports")
	analysistest.Run(t, analysistest.TestData(), lint.Analyzer, "driverregister")
}

// TestAnalyzerBypassForms: each bypass form of issue 22 is reported: a
// function that connects used as a value (funcvalue), a driver name in a
// variable or constant (drivervar), a ConfigurePgx / ConfigurePool error
// ignored, only logged or checked on one branch (configerr), the
// configuration reassigned or its guarded fields set after configuring
// (spoil), helpers that do not configure on every path (helpers, whose
// good helpers are accepted), and *pq.Error checks in packages that open
// the pgx backend (pqerr; pqbackend keeps lib/pq and is silent).
func TestAnalyzerBypassForms(t *testing.T) {
	slow(t, "type-checks the fixtures and the standard library they import")
	analysistest.Run(t, analysistest.TestData(), lint.Analyzer,
		"funcvalue", "drivervar", "configerr", "spoil", "helpers", "pqerr", "pqbackend")
}

// TestAnalyzerCorpus: realistic correct programs (helpers that configure,
// pools in structs and maps, ConfigurePool in a constructor, errors
// wrapped and returned, a lib/pq application on "securepg-pq") report
// nothing.
func TestAnalyzerCorpus(t *testing.T) {
	slow(t, "type-checks the corpus and the standard library it imports")
	res := analysistest.Run(t, analysistest.TestData(), lint.Analyzer, "corpus/...")
	if len(res) < 5 {
		t.Fatalf("analyzed %d corpus packages, want 5", len(res))
	}
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Action.Package.PkgPath, r.Err)
		}
		for _, d := range r.Diagnostics {
			t.Errorf("%s: a false positive: %s", r.Action.Package.Fset.Position(d.Pos), d.Message)
		}
	}
}

// slow marks a slow test: `go test -short` skips it on a workstation;
// under CI=true it always runs (as lab/labtest.Slow, which this module,
// free of the lab's dependencies, does not import).
func slow(t testing.TB, why string) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("slow (go test without -short runs it): " + why)
	}
}
