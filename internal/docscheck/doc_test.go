// Package docscheck holds the tests that keep the repository's Markdown
// true; it has no code of its own.
//
// Every ```go block in README.md, CONTRIBUTING.md, SECURITY.md,
// BENCHMARKS.md and docs/*.md is type-checked against this module's
// packages (TestDocsGoBlocksCompile), offline, in a few seconds:
//
//   - A block that starts with a package clause is a whole file.
//
//   - Any other block may start with import lines; the rest is either
//     top-level declarations (a func TestX, a type) or statements, which
//     are wrapped in a function that returns an error (so a fragment may
//     `return err`).
//
//   - Packages a block uses without importing them are imported for it
//     when their name is a known one (sql, securepg, pgx, pgxpool, hooks,
//     sqlmocktest, ...: see knownImports in docs_test.go).
//
//   - What a fragment takes as given (ctx, db, a helper) is declared in an
//     HTML comment on the line before the block, which GitHub does not
//     show:
//
//     <!-- go: var ctx context.Context; var db *sql.DB -->
//
//   - Unused variables and imports are not errors (a fragment shows how
//     to get a value, not what to do with it); anything else is,
//     including `...` in place of code.
//
// The other guards: the README's two commands (`go run ./cmd/securepg
// demo` and `CI=true go test -race -count=1 ./... ./cmd/... ./lint/...`) are the ones CI and
// the command have, the README stays under 300 lines, relative links and
// their anchors resolve, and docs/policy.md has a row for every SECUREPG_*
// setting. The sample CLI output in docs/cli.md is produced by
// TestDocsGolden in cmd/securepg (regenerate it with
// `go test ./cmd/securepg -run TestDocsGolden -update`).
package docscheck
