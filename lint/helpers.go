package lint

import (
	"go/ast"
	"go/types"
)

// Helpers: a function of the package being analyzed that configures a
// configuration with securepg is summarized, so that its callers are
// judged with what it does. Functions of other packages are not (the
// analyzer exchanges no facts between packages).

// summary is what a helper does with securepg.
type summary struct {
	// result: it returns a configuration that it configured (and whose
	// error it checked or returned) on every return that succeeds.
	result bool
	// params are the configuration parameters it configures on every
	// return that succeeds.
	params []int
	// errIndex is the index of its error result, or -1.
	errIndex int
}

// summary is fn's summary when fn is a helper of the package that
// configures with securepg, else nil.
func (p *pkgState) summary(fn *types.Func) *summary {
	if fn == nil || fn.Pkg() != p.pass.Pkg {
		return nil
	}
	if sm, ok := p.summaries[fn]; ok {
		return sm // nil while it is computed: a recursive helper
	}
	decl := p.funcs[fn]
	if decl == nil {
		return nil
	}
	p.summaries[fn] = nil
	sm := p.summarize(fn, decl)
	p.summaries[fn] = sm
	return sm
}

func (p *pkgState) summarize(fn *types.Func, decl *ast.FuncDecl) *summary {
	s := p.scope(decl)
	sig := fn.Type().(*types.Signature)
	sm := &summary{errIndex: -1}
	if n := sig.Results().Len(); n > 0 && types.Identical(sig.Results().At(n-1).Type(), types.Universe.Lookup("error").Type()) {
		sm.errIndex = n - 1
	}
	rets := s.successes(decl, sm.errIndex)
	if len(rets) == 0 {
		return nil
	}
	for i := 0; i < sig.Params().Len(); i++ {
		v := sig.Params().At(i)
		if !isConfigType(v.Type()) {
			continue
		}
		ok := true
		for _, r := range rets {
			ok = ok && s.configurationOf(path{root: v}, r) == ""
		}
		if ok {
			sm.params = append(sm.params, i)
		}
	}
	sm.result = s.returnsConfig(sig, rets)
	if !sm.result && len(sm.params) == 0 {
		return nil
	}
	return sm
}

// returnsConfig: every return that succeeds returns configurations that
// securepg configured, and at least one returns one.
func (s *scope) returnsConfig(sig *types.Signature, rets []ast.Node) bool {
	some := false
	for i := 0; i < sig.Results().Len(); i++ {
		if !isConfigType(sig.Results().At(i).Type()) {
			continue
		}
		for _, n := range rets {
			r, ok := n.(*ast.ReturnStmt)
			if !ok || len(r.Results) != sig.Results().Len() {
				return false // a bare return or a call's results
			}
			e := r.Results[i]
			if isNil(e) {
				continue
			}
			if s.configurationAt(e, r) != "" {
				return false
			}
			some = true
		}
	}
	return some
}

// configurationAt judges the configuration e where at uses it.
func (s *scope) configurationAt(e ast.Expr, at ast.Node) string {
	if c, ok := strip(e).(*ast.CallExpr); ok {
		if s.returnsConfigured(c) {
			return ""
		}
		return notConfigured
	}
	if s.securepgType(s.pass.TypesInfo.TypeOf(e)) {
		return ""
	}
	p, ok := s.pathOf(e)
	if !ok {
		return notConfigured
	}
	return s.configurationOf(p, at)
}

// successes are the return statements of decl (not of its closures) that
// return no error, and its end (an empty statement made up at the closing
// brace) when control can reach it. A return whose error
// is the result of a configuring call (return securepg.ConfigurePool(cfg))
// counts: the caller checks it.
func (s *scope) successes(decl *ast.FuncDecl, errIndex int) []ast.Node {
	var rets []ast.Node
	ast.Inspect(decl.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			if errIndex < 0 || errIndex >= len(x.Results) || isNil(x.Results[errIndex]) || s.configuringError(x.Results[errIndex]) {
				rets = append(rets, x)
			}
		}
		return true
	})
	if list := decl.Body.List; len(list) == 0 || !s.terminal(list[len(list)-1]) {
		end := &ast.EmptyStmt{Semicolon: decl.Body.Rbrace, Implicit: true}
		s.parent(decl) // build the map, then give the made-up statement a place
		s.parents[end] = decl.Body
		rets = append(rets, end)
	}
	return rets
}

// configuringError: e is a configuring call (whose error it is), or a
// variable assigned one.
func (s *scope) configuringError(e ast.Expr) bool {
	is := func(e ast.Expr) bool {
		c, ok := ast.Unparen(e).(*ast.CallExpr)
		if !ok {
			return false
		}
		args, _ := s.configures(s.callee(c))
		return len(args) > 0
	}
	if is(e) {
		return true
	}
	if id, ok := ast.Unparen(e).(*ast.Ident); ok {
		for _, r := range s.assigned(s.pass.TypesInfo.ObjectOf(id)) {
			if is(r) {
				return true
			}
		}
	}
	return false
}

// isConfigType: *pgx.ConnConfig, *pgxpool.Config or *pgconn.Config (or
// the types themselves).
func isConfigType(t types.Type) bool {
	return isNamed(t, pgx5, "ConnConfig") || isNamed(t, pgxpool5, "Config") || isNamed(t, pgconn5, "Config")
}
