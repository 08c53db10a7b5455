package lint

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/types"
	"strconv"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/types/typeutil"
)

// Analyzer reports every call that opens a PostgreSQL connection without
// securepg. See the package documentation for what it finds and its
// limits.
var Analyzer = &analysis.Analyzer{
	Name: "securepg",
	Doc: "report PostgreSQL connections that bypass the securepg policy\n\n" +
		"Reports calls that open PostgreSQL connections with pgx, pgxpool, lib/pq, " +
		"GORM's postgres driver or bun's pgdriver without securepg, and says what to use instead. " +
		"A call preceded by a //securepg:allow comment (with a reason) is accepted.",
	URL: "https://pkg.go.dev/github.com/securepg/securepg/lint",
	Run: run,
}

func run(pass *analysis.Pass) (any, error) {
	for _, f := range pass.Files {
		allowed := allowedLines(pass.Fset, f)
		for _, decl := range f.Decls {
			s := &scope{pass: pass, decl: decl}
			ast.Inspect(decl, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				msg := s.judge(call)
				if msg == "" {
					return true
				}
				if allowed[pass.Fset.Position(call.Pos()).Line] {
					return true
				}
				pass.Report(analysis.Diagnostic{Pos: call.Pos(), End: call.End(), Message: msg})
				return true
			})
		}
	}
	return nil, nil
}

// judge returns the message for a call that bypasses the policy, or "".
func (s *scope) judge(call *ast.CallExpr) string {
	fn := typeutil.StaticCallee(s.pass.TypesInfo, call)
	if fn == nil || fn.Pkg() == nil {
		return ""
	}
	r, ok := rules[fn.FullName()]
	if !ok {
		return ""
	}
	name := fn.Pkg().Name() + "." + fn.Name()
	arg := func() ast.Expr {
		if r.arg < len(call.Args) {
			return call.Args[r.arg]
		}
		return nil
	}
	switch r.kind {
	case opens:
		return bypass(name, r.instead)
	case driverName:
		d, ok := s.constString(arg())
		if !ok {
			return "" // not a constant: cannot tell
		}
		if advice, ok := driverNames[d]; ok {
			return bypass(fmt.Sprintf("%s with driver %s", name, strconv.Quote(d)), advice)
		}
	case config:
		if e := arg(); e == nil || !s.configured(e, call.Pos()) {
			return bypass(name+" with a configuration securepg has not configured", r.instead)
		}
	case dialer:
		if e := arg(); e == nil || !s.fromSecurepg(e) {
			return bypass(name+" with a dialer that is not securepg's", r.instead)
		}
	case connector:
		if !s.connectorConfigured(call) {
			return bypass(name, r.instead)
		}
	case gormConfig:
		if msg := s.gormConfig(arg()); msg != "" {
			return bypass(name+" "+msg, r.instead)
		}
	}
	return ""
}

func bypass(what, instead string) string {
	return what + " bypasses the securepg policy: " + instead
}

// constString is the value of a constant string expression.
func (s *scope) constString(e ast.Expr) (string, bool) {
	if e == nil {
		return "", false
	}
	tv, ok := s.pass.TypesInfo.Types[e]
	if !ok || tv.Value == nil || tv.Value.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(tv.Value), true
}

// gormConfig judges the postgres.Config given to GORM's postgres.New: ""
// when it has a Conn (the pool is judged where it was opened), a securepg
// DriverName, a DriverName that is not a constant, or a constant the
// analyzer does not know; otherwise what is wrong with it. A config that
// is not a composite literal at the call cannot be told and is not
// reported.
func (s *scope) gormConfig(e ast.Expr) string {
	lit, ok := ast.Unparen(e).(*ast.CompositeLit)
	if !ok {
		return ""
	}
	var driver ast.Expr
	for _, elt := range lit.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			return "" // positional fields: cannot tell
		}
		key, ok := kv.Key.(*ast.Ident)
		if !ok {
			continue
		}
		switch key.Name {
		case "Conn":
			return ""
		case "DriverName":
			driver = kv.Value
		}
	}
	if driver == nil {
		return "without a DriverName (GORM then uses pgx's driver)"
	}
	d, ok := s.constString(driver)
	switch {
	case !ok || isSecurepgDriverName(d):
		return ""
	case d == "":
		return "without a DriverName (GORM then uses pgx's driver)"
	case driverNames[d] != "":
		return "with DriverName " + strconv.Quote(d)
	}
	return ""
}

// isSecurepg reports whether a function belongs to securepg.
func isSecurepg(fn *types.Func) bool {
	return fn != nil && fn.Pkg() != nil && inSecurepg(fn.Pkg())
}

func inSecurepg(p *types.Package) bool {
	path := p.Path()
	return path == securepgPath || len(path) > len(securepgPath) && path[:len(securepgPath)+1] == securepgPath+"/"
}

// scope is one top-level declaration, the extent of the dataflow.
type scope struct {
	pass *analysis.Pass
	decl ast.Decl
}

// calls visits every call of the declaration.
func (s *scope) calls(visit func(*ast.CallExpr)) {
	ast.Inspect(s.decl, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			visit(c)
		}
		return true
	})
}
