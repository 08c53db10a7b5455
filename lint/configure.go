package lint

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"
)

// How a connect's configuration is judged: the last event before the
// connect that configured it (securepg.ConfigurePgx or ConfigurePool, a
// helper of the package that configures its argument, or an assignment of
// what securepg or such a helper returned configured) must exist, its
// error must stop the connect, and nothing may undo it in between.

// event is one configuring of a configuration.
type event struct {
	// node is the configuring call, or the assignment of a configured
	// result.
	node ast.Node
	// call is the configuring call whose error must be checked, or nil.
	call *ast.CallExpr
	// errIndex is the index of the call's error result, or -1.
	errIndex int
	// name is what the call calls: securepg.ConfigurePool, newConfig.
	name string
}

const notConfigured = "with a configuration securepg has not configured"

// guarded are the fields that securepg sets on a configuration (or that
// hold what it set): setting one after configuring undoes it.
var guarded = map[string]bool{
	"ConnConfig": true, "Config": true, "TLSConfig": true, "DialFunc": true,
	"LookupFunc": true, "Tracer": true, "Fallbacks": true,
	"ValidateConnect": true, "AfterNetConnect": true,
}

// configuration judges the configuration e that the call at connects
// with: "" when securepg configured it, checked the error and nothing
// undid it; otherwise what is wrong, to follow the callee's name.
func (s *scope) configuration(e ast.Expr, at *ast.CallExpr) string {
	if e == nil {
		return notConfigured
	}
	if s.securepgType(s.pass.TypesInfo.TypeOf(e)) {
		return ""
	}
	if c, ok := strip(e).(*ast.CallExpr); ok {
		if s.returnsConfigured(c) {
			return ""
		}
		return notConfigured
	}
	p, ok := s.pathOf(e)
	if !ok {
		return notConfigured
	}
	return s.configurationOf(p, at)
}

// configurationOf judges the configuration at p where at uses it.
func (s *scope) configurationOf(p path, at ast.Node) string {
	if s.securepgType(p.root.Type()) {
		return ""
	}
	ev := s.lastEvent(p, at)
	if ev == nil {
		return notConfigured
	}
	if !s.reaches(ev.node, at) {
		return "with a configuration securepg configures on another branch only"
	}
	if ev.call != nil {
		if why := s.unchecked(ev, at); why != "" {
			s.blamed[ev.call] = true
			return why
		}
	}
	return s.spoiled(p, ev.node.End(), at.Pos())
}

// reaches: the statement holding n lies in a block (of the same
// function literal, if any) that holds at, so that n runs before at on
// every path to it.
func (s *scope) reaches(n, at ast.Node) bool {
	for {
		p := s.parent(n)
		switch p.(type) {
		case nil:
			return true // a top-level declaration's value
		case *ast.BlockStmt, *ast.CaseClause, *ast.CommClause:
			return within(at, p)
		}
		n = p
	}
}

// configures are the arguments a call configures and the index of its
// error result: securepg.ConfigurePgx and ConfigurePool, and the helpers
// of the package that configure a parameter.
func (s *scope) configures(fn *types.Func) (args []int, errIndex int) {
	if fn == nil {
		return nil, -1
	}
	if configurers[fn.FullName()] {
		return []int{0}, 0
	}
	if sm := s.pkg.summary(fn); sm != nil {
		return sm.params, sm.errIndex
	}
	return nil, -1
}

// lastEvent is the last event, in source order, that starts before at
// ends and configures p.
func (s *scope) lastEvent(p path, at ast.Node) *event {
	var best *event
	consider := func(ev event) {
		if ev.node != at && ev.node.Pos() < at.End() && (best == nil || ev.node.Pos() > best.node.Pos()) {
			best = &ev
		}
	}
	assigns := func(lhs, rhs []ast.Expr, n ast.Node) {
		for i, l := range lhs {
			q, ok := s.pathOf(l)
			if !ok || q.root != p.root || !isPrefix(q.sel, p.sel) {
				continue
			}
			r := rhs[0]
			if len(rhs) == len(lhs) {
				r = rhs[i]
			}
			if c, ok := strip(r).(*ast.CallExpr); ok && s.returnsConfigured(c) {
				consider(event{node: n, errIndex: -1})
			}
		}
	}
	ast.Inspect(s.decl, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CallExpr:
			fn := s.callee(x)
			args, errIndex := s.configures(fn)
			for _, i := range args {
				if i >= len(x.Args) {
					continue
				}
				if q, ok := s.pathOf(x.Args[i]); ok && covers(q, p) {
					consider(event{node: x, call: x, errIndex: errIndex, name: qualified(fn)})
				}
			}
		case *ast.AssignStmt:
			if len(x.Rhs) > 0 {
				assigns(x.Lhs, x.Rhs, x)
			}
		case *ast.ValueSpec:
			if len(x.Values) > 0 {
				lhs := make([]ast.Expr, len(x.Names))
				for i, n := range x.Names {
					lhs[i] = n
				}
				assigns(lhs, x.Values, x)
			}
		}
		return true
	})
	return best
}

func qualified(fn *types.Func) string {
	if fn.Pkg() != nil && isSecurepg(fn) {
		return fn.Pkg().Name() + "." + fn.Name()
	}
	return fn.Name()
}

func isPrefix(pre, s []string) bool {
	if len(pre) > len(s) {
		return false
	}
	for i := range pre {
		if pre[i] != s[i] {
			return false
		}
	}
	return true
}

// spoiled returns what undoes the configuring of p between from and to,
// or "": p (or what holds it) reassigned, or one of its guarded fields
// (or a field within one) set. Setting a field to a value that wraps
// its current one (cfg.Tracer = multi(cfg.Tracer, mine)) keeps it.
func (s *scope) spoiled(p path, from, to token.Pos) string {
	var msg string
	ast.Inspect(s.decl, func(n ast.Node) bool {
		x, ok := n.(*ast.AssignStmt)
		if msg != "" || !ok || x.Pos() < from || x.Pos() >= to {
			return msg == ""
		}
		for i, l := range x.Lhs {
			q, ok := s.pathOf(l)
			if !ok || q.root != p.root {
				continue
			}
			if isPrefix(q.sel, p.sel) {
				msg = "with a configuration reassigned after securepg configured it (" + render(q) + ")"
				return false
			}
			if !isPrefix(p.sel, q.sel) {
				continue
			}
			r := x.Rhs[0]
			if len(x.Rhs) == len(x.Lhs) {
				r = x.Rhs[i]
			}
			for j, f := range q.sel[len(p.sel):] {
				replaced := len(p.sel)+j == len(q.sel)-1 // the field itself, not one within it
				if f == "ConnConfig" || f == "Config" {
					if replaced {
						msg = "with a configuration whose " + f + " is replaced after securepg configured it (" + render(q) + ")"
						return false
					}
					continue
				}
				if guarded[f] && !s.mentions(r, q) {
					msg = "with a configuration whose " + f + " is set after securepg configured it (" + render(q) + ")"
					return false
				}
			}
		}
		return true
	})
	return msg
}

func render(p path) string {
	return strings.Join(append([]string{p.root.Name()}, p.sel...), ".")
}

// mentions: e reads the value at q.
func (s *scope) mentions(e ast.Expr, q path) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if x, ok := n.(ast.Expr); ok && !found {
			if r, ok := s.pathOf(x); ok && r.root == q.root && isPrefix(q.sel, r.sel) && len(r.sel) == len(q.sel) {
				found = true
			}
		}
		return !found
	})
	return found
}
