package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/packages"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lint"
)

const lintUsage = `usage: securepg lint [-C dir] [-test=false] [packages]

Reports every call that opens a PostgreSQL connection without securepg
(sql.Open("pgx"/"postgres", ...), pgx.Connect, pgxpool.New, pq.NewListener,
GORM's postgres.Open, ...), as file:line:col: message, with what to use
instead. The packages are go list patterns (default ./...); a module nested
in the tree is linted by running in it (-C dir). The same analyzer runs
under go vet with go vet's own: go vet -vettool="$(command -v securepg-vet)"
(after checking that it is installed; see go doc ./cmd/securepg-vet).

exit codes: 0 nothing found, 3 bypasses found, 2 the packages did not load
(a type error, a missing package, a bad pattern) or a usage error,
1 any other error
`

// lint runs the bypass analyzer over packages loaded with go/packages:
// syntax for the packages named, export data for their dependencies (the
// analyzer needs no facts and no other analyzer's result).
func (e *env) lint(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, lintUsage) }
	dir := fs.String("C", "", "run in `dir` (a module of its own, for instance)")
	tests := fs.Bool("test", true, "also analyze test files")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	patterns := fs.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	found, err := runLint(ctx, *dir, *tests, patterns)
	var load *loadError
	switch {
	case errors.As(err, &load):
		if len(load.lines) > 0 {
			e.fail(exitUsage, "lint: %v:", err)
		} else {
			e.fail(exitUsage, "lint: %v", err)
		}
		for _, line := range load.lines {
			fmt.Fprintln(e.stderr, "\t"+core.SafeText(line))
		}
		return exitUsage
	case err != nil:
		return e.fail(exitError, "lint: %v", err)
	}
	wd, _ := os.Getwd()
	for _, f := range found {
		name := f.pos.Filename
		if rel, err := filepath.Rel(wd, name); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
		fmt.Fprintf(e.stdout, "%s:%d:%d: %s\n", name, f.pos.Line, f.pos.Column, f.message)
	}
	if len(found) > 0 {
		fmt.Fprintf(e.stderr, "securepg lint: %d %s\n", len(found), plural(len(found), "finding", "findings"))
		return exitRefused
	}
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// loadError: the packages could not be loaded (exit 2, not 1: nothing
// was analyzed).
type loadError struct {
	err   error
	lines []string // what go list and the type checker said, a line each
}

// loadErrors are the packages' errors, a line each, each once: go list
// repeats the compiler's (under a "# package" header, with relative paths)
// and a package's test variant repeats its own.
func loadErrors(pkgs []*packages.Package) []string {
	var out []string
	seen := make(map[string]bool)
	for _, p := range pkgs {
		for _, err := range p.Errors {
			for _, line := range strings.Split(err.Error(), "\n") {
				line = strings.TrimSpace(strings.TrimPrefix(line, "-: "))
				key := line
				if file, rest, ok := strings.Cut(line, ":"); ok {
					key = filepath.Base(file) + ":" + rest
				}
				if line != "" && !strings.HasPrefix(line, "# ") && !seen[key] {
					seen[key] = true
					out = append(out, line)
				}
			}
		}
	}
	return out
}

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// finding is one report.
type finding struct {
	pos     token.Position
	message string
}

// runLint loads the packages and runs the analyzer on each, reporting each
// finding once (a package and its test variant share files), sorted by
// position.
func runLint(ctx context.Context, dir string, tests bool, patterns []string) ([]finding, error) {
	a := lint.Analyzer
	if len(a.Requires) > 0 || len(a.FactTypes) > 0 {
		// This small driver gives the analyzer neither; checker.Analyze
		// over packages.LoadAllSyntax would.
		return nil, fmt.Errorf("analyzer %s needs results or facts this driver does not provide", a.Name)
	}
	cfg := &packages.Config{
		Context: ctx,
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles | packages.NeedImports |
			packages.NeedTypes | packages.NeedTypesSizes | packages.NeedSyntax | packages.NeedTypesInfo | packages.NeedModule,
		Dir:   dir,
		Tests: tests,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, &loadError{err: err}
	}
	if len(pkgs) == 0 {
		return nil, &loadError{err: fmt.Errorf("%s matched no packages", strings.Join(patterns, " "))}
	}
	if errs := loadErrors(pkgs); len(errs) > 0 {
		return nil, &loadError{errors.New("the packages did not load"), errs}
	}
	seen := make(map[finding]bool)
	var found []finding
	for _, p := range pkgs {
		if strings.HasSuffix(p.ID, ".test") {
			continue // the generated test main
		}
		pass := &analysis.Pass{
			Analyzer:     a,
			Fset:         p.Fset,
			Files:        p.Syntax,
			OtherFiles:   p.OtherFiles,
			IgnoredFiles: p.IgnoredFiles,
			Pkg:          p.Types,
			TypesInfo:    p.TypesInfo,
			TypesSizes:   p.TypesSizes,
			TypeErrors:   p.TypeErrors,
			ResultOf:     map[*analysis.Analyzer]any{},
			ReadFile:     os.ReadFile,
			Report: func(d analysis.Diagnostic) {
				f := finding{p.Fset.Position(d.Pos), d.Message}
				if !seen[f] {
					seen[f] = true
					found = append(found, f)
				}
			},
		}
		if p.Module != nil {
			pass.Module = &analysis.Module{Path: p.Module.Path, Version: p.Module.Version, GoVersion: p.Module.GoVersion}
		}
		if _, err := a.Run(pass); err != nil {
			return nil, fmt.Errorf("%s: %v", p.ID, err)
		}
	}
	sort.Slice(found, func(i, j int) bool {
		a, b := found[i].pos, found[j].pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return found, nil
}
