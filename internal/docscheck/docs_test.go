package docscheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// root is the repository, from this package's directory.
var root = filepath.Join("..", "..")

// knownImports are the packages a block may use without importing them.
var knownImports = map[string]string{
	"context": "context", "tls": "crypto/tls", "sql": "database/sql", "driver": "database/sql/driver",
	"errors": "errors", "fmt": "fmt", "log": "log", "slog": "log/slog", "os": "os", "time": "time",
	"testing":     "testing",
	"securepg":    "github.com/securepg/securepg",
	"hooks":       "github.com/securepg/securepg/hooks",
	"sqlmocktest": "github.com/securepg/securepg/sqlmocktest",
	"lab":         "github.com/securepg/securepg/lab",
	"pgx":         "github.com/jackc/pgx/v5",
	"pgconn":      "github.com/jackc/pgx/v5/pgconn",
	"pgxpool":     "github.com/jackc/pgx/v5/pgxpool",
	"stdlib":      "github.com/jackc/pgx/v5/stdlib",
	"pq":          "github.com/lib/pq",
	"sqlmock":     "github.com/DATA-DOG/go-sqlmock",
}

// docs are the Markdown files the tests read.
func docs(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CONTRIBUTING.md", "SECURITY.md", "BENCHMARKS.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		files = append(files, rel)
	}
	return files
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type block struct {
	where   string // file:line
	decls   string // from <!-- go: ... -->
	code    string
	imports map[string]string // name -> path, written in the block
}

var (
	declComment = regexp.MustCompile(`^<!-- go: (.*) -->$`)
	importLine  = regexp.MustCompile(`^import\s+(?:([A-Za-z_][A-Za-z0-9_]*)\s+)?"([^"]+)"\s*$`)
)

// goBlocks extracts the ```go blocks of a Markdown file.
func goBlocks(name, text string) []block {
	var out []block
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		indent := lines[i][:strings.Index(lines[i], "```")]
		b := block{where: fmt.Sprintf("%s:%d", name, i+1), imports: map[string]string{}}
		if i > 0 {
			if m := declComment.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				b.decls = m[1]
			}
		}
		var code []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code = append(code, strings.TrimPrefix(lines[i], indent))
		}
		// Leading import lines.
		for len(code) > 0 {
			l := strings.TrimSpace(code[0])
			if m := importLine.FindStringSubmatch(l); m != nil {
				n := m[1]
				if n == "" {
					n = m[2][strings.LastIndex(m[2], "/")+1:]
				}
				b.imports[n] = m[2]
			} else if l != "" {
				break
			}
			code = code[1:]
		}
		b.code = strings.Join(code, "\n")
		out = append(out, b)
	}
	return out
}

// source is the block as a Go file, and the import paths it needs.
func (b block) source() (string, []string, error) {
	body := b.code
	isFile := strings.HasPrefix(strings.TrimSpace(body), "package ")
	if !isFile {
		if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+body, 0); err != nil {
			body = "func _() error {\n" + body + "\nreturn nil\n}"
		}
		body = "package docblock\n\n" + b.decls + "\n\n" + body
	}
	f, err := parser.ParseFile(token.NewFileSet(), b.where, body, 0)
	if err != nil {
		return "", nil, err
	}
	imports := maps.Clone(b.imports)
	for _, s := range f.Imports {
		p := strings.Trim(s.Path.Value, `"`)
		imports[p] = p
	}
	if !isFile {
		ast.Inspect(f, func(n ast.Node) bool {
			if s, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := s.X.(*ast.Ident); ok && knownImports[x.Name] != "" && imports[x.Name] == "" {
					imports[x.Name] = knownImports[x.Name]
				}
			}
			return true
		})
		var imp strings.Builder
		for _, n := range slices.Sorted(maps.Keys(imports)) {
			fmt.Fprintf(&imp, "import %s %q\n", n, imports[n])
		}
		body = strings.Replace(body, "package docblock\n", "package docblock\n\n"+imp.String(), 1)
	}
	return body, slices.Collect(maps.Values(imports)), nil
}

// exportData lists the compiled export data of the packages and their
// dependencies (go list -export: from the build cache, offline).
func exportData(t *testing.T, paths []string) map[string]string {
	t.Helper()
	args := append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}"}, paths...)
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, stderr.String())
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if p, file, ok := strings.Cut(sc.Text(), "="); ok && file != "" {
			m[p] = file
		}
	}
	return m
}

// TestDocsGoBlocksCompile: every ```go block in the Markdown type-checks
// against this module (see the package comment for the conventions).
func TestDocsGoBlocksCompile(t *testing.T) {
	type src struct {
		where, code string
	}
	var files []src
	need := map[string]bool{}
	n := 0
	for _, name := range docs(t) {
		for _, b := range goBlocks(name, read(t, name)) {
			n++
			code, paths, err := b.source()
			if err != nil {
				t.Errorf("%s: does not parse: %v\n%s", b.where, err, b.code)
				continue
			}
			for _, p := range paths {
				need[p] = true
			}
			files = append(files, src{b.where, code})
		}
	}
	if n < 8 {
		t.Fatalf("only %d go blocks found", n)
	}
	if len(files) == 0 {
		return
	}
	exports := exportData(t, slices.Sorted(maps.Keys(need)))
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	})
	for _, s := range files {
		f, err := parser.ParseFile(fset, s.where, s.code, 0)
		if err != nil {
			t.Errorf("%s: %v", s.where, err)
			continue
		}
		var errs []error
		conf := types.Config{Importer: imp, Error: func(err error) {
			var te types.Error
			if errors.As(err, &te) && te.Soft && (strings.Contains(te.Msg, "declared and not used") || strings.Contains(te.Msg, "imported and not used")) {
				return
			}
			errs = append(errs, err)
		}}
		conf.Check("docblock", fset, []*ast.File{f}, nil)
		if len(errs) > 0 {
			t.Errorf("%s: the go block does not compile:\n%v\n--- as checked:\n%s", s.where, errors.Join(errs...), s.code)
		}
	}
}

// TestREADMECommands: the README's two commands are exactly the ones the
// command and CI have: the quick start and the test command.
func TestREADMECommands(t *testing.T) {
	readme := read(t, "README.md")
	for _, cmd := range []string{"go run ./cmd/securepg demo", "CI=true go test -race -count=1 ./... ./cmd/... ./lint/..."} {
		if !strings.Contains(readme, "```sh\n"+cmd+"\n```\n") {
			t.Errorf("README.md has no sh block with exactly %q", cmd)
		}
	}
	ci := read(t, filepath.Join(".ci", "run"))
	if !regexp.MustCompile(`(?m)^export CI=true$`).MatchString(ci) || !regexp.MustCompile(`(?m)^go test -race -count=1 \./\.\.\. \./cmd/\.\.\. \./lint/\.\.\.$`).MatchString(ci) {
		t.Error(".ci/run does not run the README's test command (export CI=true; go test -race -count=1 ./... ./cmd/... ./lint/...)")
	}
	if !strings.Contains(read(t, filepath.Join("cmd", "securepg", "run.go")), `case "demo":`) {
		t.Error("cmd/securepg has no demo command")
	}
	if n := strings.Count(readme, "\n"); n > 300 {
		t.Errorf("README.md has %d lines; keep it under 300 and move details to docs/", n)
	}
}

// TestDocsLinks: every relative link in the Markdown names a file that
// exists and, with a #fragment, a heading of that file.
func TestDocsLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, name := range docs(t) {
		text := read(t, name)
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			if file == "" {
				file = name
			} else {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(name), file))
			}
			b, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				t.Errorf("%s: link %s: %v", name, target, err)
				continue
			}
			if frag != "" && !slices.Contains(anchors(string(b)), frag) {
				t.Errorf("%s: link %s: %s has no heading for #%s", name, target, file, frag)
			}
		}
	}
}

// anchors are GitHub's ids for the headings of a Markdown file.
func anchors(text string) []string {
	var out []string
	fence := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f && r != '—' && r != '→':
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// TestPolicyDocListsEverySetting: docs/policy.md has a table row for every
// SECUREPG_* setting the code reads, and no page documents the removed
// SECUREPG_DRIVER (the backend is chosen by the driver name).
func TestPolicyDocListsEverySetting(t *testing.T) {
	policy := read(t, filepath.Join("docs", "policy.md"))
	for _, st := range core.Settings {
		v := st.Env
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(v) + "`.*$").FindString(policy)
		if v == core.EnvSSLKey {
			row = regexp.MustCompile("(?m)^\\| `SECUREPG_SSLCERT`, `SECUREPG_SSLKEY` \\|.*$").FindString(policy)
		}
		if row == "" {
			t.Errorf("docs/policy.md has no table row for %s", v)
			continue
		}
		// The row names the option the settings table declares.
		if !strings.Contains(row, "`"+st.Option+"`") {
			t.Errorf("docs/policy.md's row for %s does not name its option %s", v, st.Option)
		}
	}
	for _, name := range docs(t) {
		if name == "SECURITY.md" {
			continue // its threat table names the variable as a threat, and its test
		}
		// Named only as refused, never as a setting (no table row).
		if text := read(t, name); strings.Contains(text, "| `SECUREPG_DRIVER`") ||
			strings.Contains(text, "SECUREPG_DRIVER") && !strings.Contains(text, "`SECUREPG_DRIVER` is refused") {
			t.Errorf("%s documents SECUREPG_DRIVER: the backend is chosen by the driver name", name)
		}
	}
}

// TestSettingsTableIsTheSource: every setting of core.Settings has its
// option in the root package (an exported func of that name), is named in
// the package docs (doc.go) and in the README; and every SECUREPG_
// variable the code names is in the table.
func TestSettingsTableIsTheSource(t *testing.T) {
	fset := token.NewFileSet()
	funcs := map[string]bool{}
	var docText string
	files, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = true
			}
		}
		if filepath.Base(name) == "doc.go" {
			docText = read(t, "doc.go")
		}
	}
	// doc.go's block is the table's rendering, line for line.
	var want strings.Builder
	for _, l := range strings.Split(strings.TrimRight(core.SettingsDoc(), "\n"), "\n") {
		want.WriteString("//\t" + strings.TrimRight(l, " ") + "\n")
	}
	if !strings.Contains(docText, want.String()) {
		t.Errorf("doc.go's list of settings is not core.SettingsDoc(); replace it with:\n%s", want.String())
	}
	readme := read(t, "README.md")
	for _, st := range core.Settings {
		if !funcs[st.Option] {
			t.Errorf("%s: no option %s in package securepg", st.Env, st.Option)
		}
		if !strings.Contains(docText, st.Env) {
			t.Errorf("doc.go does not name %s", st.Env)
		}
		if !strings.Contains(readme, st.Env) {
			t.Errorf("README.md does not name %s", st.Env)
		}
		if st.Doc == "" || st.Default == "" || st.Show == nil {
			t.Errorf("%s: an incomplete declaration", st.Env)
		}
	}
	if !slices.Contains(core.EnvVars, telemetry.EnvOperationSpans) {
		t.Errorf("%s is not in the settings table", telemetry.EnvOperationSpans)
	}
}
