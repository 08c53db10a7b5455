package lint

import (
	"go/ast"
	"go/constant"
	"go/types"

	"golang.org/x/tools/go/analysis"
)

// pkgState is what the declarations of one package share: where each
// variable is assigned, and the functions the package declares (helpers
// that configure securepg, see helpers.go).
type pkgState struct {
	pass *analysis.Pass
	// values maps a variable to the expressions it is assigned anywhere
	// in the package (:=, =, var); for x, err := f(), the call f().
	values map[types.Object][]ast.Expr
	// funcs are the package's function declarations.
	funcs map[*types.Func]*ast.FuncDecl
	// summaries memoizes helper summaries; nil while one is computed.
	summaries map[*types.Func]*summary
	// pgxBackend: the package opens securepg's pgx backend (computed on
	// first use, see pqerror.go).
	pgxBackend *bool
}

func newPackage(pass *analysis.Pass) *pkgState {
	p := &pkgState{
		pass:      pass,
		values:    make(map[types.Object][]ast.Expr),
		funcs:     make(map[*types.Func]*ast.FuncDecl),
		summaries: make(map[*types.Func]*summary),
	}
	record := func(lhs []ast.Expr, rhs []ast.Expr) {
		for i, l := range lhs {
			id, ok := ast.Unparen(l).(*ast.Ident)
			if !ok {
				continue
			}
			v := pass.TypesInfo.ObjectOf(id)
			switch {
			case v == nil:
			case len(rhs) == 1:
				p.values[v] = append(p.values[v], rhs[0])
			case len(rhs) == len(lhs):
				p.values[v] = append(p.values[v], rhs[i])
			}
		}
	}
	for _, f := range pass.Files {
		ast.Inspect(f, func(n ast.Node) bool {
			if lhs, rhs, ok := assignment(n); ok {
				record(lhs, rhs)
				return true
			}
			if x, ok := n.(*ast.FuncDecl); ok {
				if fn, ok := pass.TypesInfo.Defs[x.Name].(*types.Func); ok && x.Body != nil {
					p.funcs[fn] = x
				}
			}
			return true
		})
	}
	return p
}

func (p *pkgState) scope(decl ast.Decl) *scope {
	return &scope{pkg: p, pass: p.pass, decl: decl, blamed: make(map[*ast.CallExpr]bool)}
}

// assigned are the expressions v is assigned in the package.
func (s *scope) assigned(v types.Object) []ast.Expr { return s.pkg.values[v] }

// driverString is the driver name e stands for: a constant string, or a
// variable (local or package-level) assigned one. A variable assigned
// several constants is taken as the first of them that pgx, lib/pq or bun
// registers (so that it is reported), else the first; ok is false when
// nothing constant is ever assigned to it.
func (s *scope) driverString(e ast.Expr) (string, bool) {
	vals := s.consts(e, 0)
	for _, v := range vals {
		if driverNames[v] != "" {
			return v, true
		}
	}
	if len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

// consts are the constant strings e may hold: its value when it is a
// constant, else the constants assigned to the variable it names,
// following variables assigned variables a few steps.
func (s *scope) consts(e ast.Expr, depth int) []string {
	if e == nil || depth > 4 {
		return nil
	}
	if tv, ok := s.pass.TypesInfo.Types[e]; ok && tv.Value != nil {
		if tv.Value.Kind() == constant.String {
			return []string{constant.StringVal(tv.Value)}
		}
		return nil
	}
	var id *ast.Ident
	switch x := ast.Unparen(e).(type) {
	case *ast.Ident:
		id = x
	case *ast.SelectorExpr:
		id = x.Sel // a package's variable: pkg.Driver
	default:
		return nil
	}
	v, ok := s.pass.TypesInfo.ObjectOf(id).(*types.Var)
	if !ok || v.IsField() {
		return nil
	}
	var out []string
	for _, r := range s.assigned(v) {
		out = append(out, s.consts(r, depth+1)...)
	}
	return out
}

// funcValue returns the message for a function that opens connections
// used as a value (assigned, passed to a helper, stored in a struct or a
// map) rather than called, or "": what it will connect with cannot be
// judged.
func (s *scope) funcValue(e ast.Expr, id *ast.Ident, callees map[ast.Expr]bool) string {
	fn, ok := s.pass.TypesInfo.Uses[id].(*types.Func)
	if !ok || fn.Pkg() == nil || callees[e] {
		return ""
	}
	r, ok := rules[fn.FullName()]
	if !ok || fn.Pkg() == s.pass.Pkg {
		return ""
	}
	instead := r.instead
	if instead == "" {
		instead = useSQLOpen
	}
	return bypass(fn.Pkg().Name()+"."+fn.Name()+" used as a function value",
		"what it connects with cannot be checked; call it directly, and "+instead)
}
