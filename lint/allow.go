package lint

import (
	"go/ast"
	"go/token"
	"strings"
	"unicode"
)

// allowDirective starts a comment that accepts calls: a comment alone on
// its line accepts the calls that start on the line below it; a comment
// that shares its line with code accepts the calls that start on that
// line, and no other. The directive must say why, after a space:
// //securepg:allow <reason>.
const allowDirective = "securepg:allow"

// malformedAllow is the message for a directive without a reason.
const malformedAllow = allowDirective + " without a reason accepts nothing: say why the connection may bypass the securepg policy (//" + allowDirective + " <reason>)"

// allowances reads the securepg:allow directives of a file: the lines
// whose calls they accept, and the directives that accept nothing because
// they give no reason.
func allowances(fset *token.FileSet, f *ast.File) (lines map[int]bool, malformed []*ast.Comment) {
	var code map[int]bool
	for _, g := range f.Comments {
		for _, c := range g.List {
			reason, ok := directive(c.Text)
			if !ok {
				continue
			}
			if reason == "" {
				malformed = append(malformed, c)
				continue
			}
			if code == nil {
				code = codeLines(fset, f)
			}
			if lines == nil {
				lines = make(map[int]bool)
			}
			first, last := fset.Position(c.Pos()).Line, fset.Position(c.End()).Line
			if !code[first] && !code[last] {
				lines[last+1] = true // alone on its line: the next line
				continue
			}
			lines[first], lines[last] = true, true // after (or before) code: its own line
		}
	}
	return lines, malformed
}

// directive parses a comment's text: ok when it is a securepg:allow
// directive (after optional spaces), with its reason, or "" when it gives
// none. The reason is the text after the directive and a space, up to a
// following // comment; a directive followed by anything but a space
// ("securepg:allowed") has no reason.
func directive(text string) (reason string, ok bool) {
	if t, isLine := strings.CutPrefix(text, "//"); isLine {
		text = t
	} else {
		text = strings.TrimSuffix(strings.TrimPrefix(text, "/*"), "*/")
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(text), allowDirective)
	if !ok {
		return "", false
	}
	if rest == "" || !unicode.IsSpace(rune(rest[0])) {
		return "", true
	}
	// A comment on the directive ("//securepg:allow // TODO") is not a
	// reason; a URL in one ("see https://...") is part of it.
	for i := 1; i < len(rest)-1; i++ {
		if rest[i] == '/' && rest[i+1] == '/' && unicode.IsSpace(rune(rest[i-1])) {
			rest = rest[:i]
			break
		}
	}
	return strings.TrimSpace(rest), true
}

// codeLines are the lines of a file on which code starts or ends: every
// line holding a token has a node that starts or ends on it.
func codeLines(fset *token.FileSet, f *ast.File) map[int]bool {
	tf := fset.File(f.FileStart)
	if tf == nil {
		tf = fset.File(f.Pos())
	}
	lines := make(map[int]bool)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n.(type) {
		case nil, *ast.CommentGroup, *ast.Comment:
			return false
		}
		if p := n.Pos(); p.IsValid() {
			lines[tf.Line(p)] = true
		}
		if e := n.End(); e.IsValid() && e > n.Pos() {
			lines[tf.Line(e-1)] = true
		}
		return true
	})
	return lines
}
