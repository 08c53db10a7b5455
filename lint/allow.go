package lint

import (
	"go/ast"
	"go/token"
	"strings"
)

// allowDirective starts a comment that accepts the call on its line or on
// the line below.
const allowDirective = "securepg:allow"

// allowedLines are the lines of a file whose calls are accepted.
func allowedLines(fset *token.FileSet, f *ast.File) map[int]bool {
	var lines map[int]bool
	for _, g := range f.Comments {
		for _, c := range g.List {
			text := strings.TrimPrefix(c.Text, "//")
			text = strings.TrimPrefix(text, "/*")
			if !strings.HasPrefix(strings.TrimSpace(text), allowDirective) {
				continue
			}
			if lines == nil {
				lines = make(map[int]bool)
			}
			line := fset.Position(c.Pos()).Line
			lines[line] = true
			lines[line+1] = true
		}
	}
	return lines
}
