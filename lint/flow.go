package lint

import (
	"go/ast"
	"go/token"
	"go/types"
	"slices"

	"golang.org/x/tools/go/types/typeutil"
)

// A deliberately simple dataflow, within one top-level declaration: a
// value is securepg's when it is the result of a call into securepg, of a
// type securepg defines, or a variable assigned such a result; a
// configuration is configured by securepg when it (or the value it is a
// field of, or its ConnConfig) was handed to securepg.ConfigurePgx or
// securepg.ConfigurePool earlier in the declaration.

// path is an expression as a variable and a chain of field selections:
// cfg, cfg.ConnConfig, s.pool.cfg.
type path struct {
	root types.Object
	sel  []string
}

// pathOf strips parentheses, & and * and reads the selector chain; ok is
// false for anything else (a call, an index, a literal).
func (s *scope) pathOf(e ast.Expr) (path, bool) {
	var sel []string
	for {
		switch x := strip(e).(type) {
		case *ast.SelectorExpr:
			if _, isVar := s.pass.TypesInfo.ObjectOf(x.Sel).(*types.Var); !isVar {
				return path{}, false
			}
			if id, ok := x.X.(*ast.Ident); ok {
				if _, isPkgName := s.pass.TypesInfo.ObjectOf(id).(*types.PkgName); isPkgName {
					// A package-level variable: pkg.Var.
					return path{root: s.pass.TypesInfo.ObjectOf(x.Sel), sel: reverse(sel)}, true
				}
			}
			sel = append(sel, x.Sel.Name)
			e = x.X
		case *ast.Ident:
			obj := s.pass.TypesInfo.ObjectOf(x)
			if _, ok := obj.(*types.Var); !ok {
				return path{}, false
			}
			return path{root: obj, sel: reverse(sel)}, true
		default:
			return path{}, false
		}
	}
}

func reverse(s []string) []string {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// covers: configuring q configures p. p is q or a field of it (the
// ConnConfig of a configured pool, the pgconn.Config of a configured
// ConnConfig), or q is p's ConnConfig (securepg.ConfigurePool is
// securepg.ConfigurePgx on the pool's ConnConfig).
func covers(q, p path) bool {
	if q.root != p.root {
		return false
	}
	if len(q.sel) <= len(p.sel) {
		return slices.Equal(q.sel, p.sel[:len(q.sel)])
	}
	return len(q.sel) == len(p.sel)+1 && q.sel[len(p.sel)] == "ConnConfig" && slices.Equal(q.sel[:len(p.sel)], p.sel)
}

// callee is the function a call calls, interface methods included.
func (s *scope) callee(c *ast.CallExpr) *types.Func {
	fn, _ := typeutil.Callee(s.pass.TypesInfo, c).(*types.Func)
	return fn
}

// fromSecurepg reports whether e is securepg's: the result of a call into
// securepg, a value of a type securepg defines, or a variable (or a field
// of one) that was assigned such a result.
func (s *scope) fromSecurepg(e ast.Expr) bool {
	if e == nil {
		return false
	}
	if s.securepgType(s.pass.TypesInfo.TypeOf(e)) {
		return true
	}
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
			continue
		case *ast.StarExpr:
			e = x.X
			continue
		case *ast.UnaryExpr:
			if x.Op == token.AND {
				e = x.X
				continue
			}
		case *ast.CallExpr:
			return s.returnsConfigured(x)
		}
		break
	}
	p, ok := s.pathOf(e)
	if !ok {
		return false
	}
	if s.securepgType(p.root.Type()) {
		return true
	}
	return s.assignedFromSecurepg(p.root)
}

// securepgType: a type securepg defines, or a pointer to one.
func (s *scope) securepgType(t types.Type) bool {
	if t == nil {
		return false
	}
	if ptr, ok := t.(*types.Pointer); ok {
		t = ptr.Elem()
	}
	switch n := types.Unalias(t).(type) {
	case *types.Named:
		return n.Obj().Pkg() != nil && inSecurepg(n.Obj().Pkg())
	}
	return false
}

// assignedFromSecurepg reports whether v is assigned, anywhere in the
// package, the result of a call into securepg or of a helper that returns
// what it configured.
func (s *scope) assignedFromSecurepg(v types.Object) bool {
	for _, r := range s.assigned(v) {
		if c, ok := ast.Unparen(r).(*ast.CallExpr); ok && s.returnsConfigured(c) {
			return true
		}
	}
	return false
}

// returnsConfigured: c is a call into securepg, of a helper of the
// package that returns a configuration it configured (see summary), or a
// one-argument wrapper over either: must(securepg.ParsePool(dsn)).
func (s *scope) returnsConfigured(c *ast.CallExpr) bool {
	fn := s.callee(c)
	if isSecurepg(fn) {
		return true
	}
	if sm := s.pkg.summary(fn); sm != nil && sm.result {
		return true
	}
	if len(c.Args) == 1 {
		if inner, ok := ast.Unparen(c.Args[0]).(*ast.CallExpr); ok {
			fn := s.callee(inner)
			sm := s.pkg.summary(fn)
			return isSecurepg(fn) || sm != nil && sm.result
		}
	}
	return false
}

// connectorConfigured reports whether the lib/pq connector a call returns
// is assigned to a variable that is later given a dialer from securepg
// with its Dialer method. Handing the connector to securepg does not
// count: no securepg function secures a lib/pq connector
// (libpq.ConnectorWithNoticeHandler hands one back to lib/pq).
func (s *scope) connectorConfigured(call *ast.CallExpr) bool {
	v := s.assignedTo(call)
	if v == nil {
		return false
	}
	found := false
	s.calls(func(c *ast.CallExpr) {
		if found || c.Pos() <= call.Pos() {
			return
		}
		if sel, ok := ast.Unparen(c.Fun).(*ast.SelectorExpr); ok && sel.Sel.Name == "Dialer" && len(c.Args) == 1 {
			if p, ok := s.pathOf(sel.X); ok && p.root == v && len(p.sel) == 0 && s.fromSecurepg(c.Args[0]) {
				found = true
			}
		}
	})
	return found
}

// assignedTo is the variable a call's (first) result is assigned to, or
// nil.
func (s *scope) assignedTo(call *ast.CallExpr) types.Object {
	var v types.Object
	first := func(lhs []ast.Expr, rhs []ast.Expr) {
		for i, r := range rhs {
			if ast.Unparen(r) != call {
				continue
			}
			j := i
			if len(rhs) == 1 {
				j = 0
			}
			if j < len(lhs) {
				if id, ok := ast.Unparen(lhs[j]).(*ast.Ident); ok && id.Name != "_" {
					v = s.pass.TypesInfo.ObjectOf(id)
				}
			}
		}
	}
	ast.Inspect(s.decl, func(n ast.Node) bool {
		if lhs, rhs, ok := assignment(n); ok {
			first(lhs, rhs)
		}
		return v == nil
	})
	return v
}
