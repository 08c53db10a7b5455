package lint

import (
	"go/ast"
	"go/token"
	"go/types"
)

// How the error of a configuring call is handled.
type handling int

const (
	// errOther: used some other way (logged, stored); not a check.
	errOther handling = iota
	// errIgnored: the call is a statement of its own, or its error is
	// assigned to _.
	errIgnored
	// errAssigned: assigned to a variable, to be checked.
	errAssigned
	// errReturned: returned to the caller, who checks it.
	errReturned
	// errCompared: the call itself is compared with nil.
	errCompared
)

// handlingOf tells how the error result (of index errIndex) of call is
// handled, and the variable it is assigned to.
func (s *scope) handlingOf(call *ast.CallExpr, errIndex int) (handling, types.Object) {
	var n ast.Node = call
	parent := s.parent(n)
	for {
		p, ok := parent.(*ast.ParenExpr)
		if !ok {
			break
		}
		n, parent = p, s.parent(p)
	}
	var lhs []ast.Expr
	switch x := parent.(type) {
	case *ast.ExprStmt:
		return errIgnored, nil
	case *ast.ReturnStmt:
		return errReturned, nil
	case *ast.BinaryExpr:
		if (x.Op == token.NEQ || x.Op == token.EQL) && (isNil(x.X) || isNil(x.Y)) {
			return errCompared, nil
		}
		return errOther, nil
	case *ast.AssignStmt:
		if len(x.Rhs) != 1 {
			return errOther, nil
		}
		lhs = x.Lhs
	case *ast.ValueSpec:
		if len(x.Values) != 1 {
			return errOther, nil
		}
		for _, id := range x.Names {
			lhs = append(lhs, id)
		}
	default:
		return errOther, nil
	}
	if errIndex >= len(lhs) {
		return errOther, nil
	}
	id, ok := ast.Unparen(lhs[errIndex]).(*ast.Ident)
	switch {
	case !ok:
		return errOther, nil
	case id.Name == "_":
		return errIgnored, nil
	}
	return errAssigned, s.pass.TypesInfo.ObjectOf(id)
}

func isNil(e ast.Expr) bool {
	id, ok := ast.Unparen(e).(*ast.Ident)
	return ok && id.Name == "nil"
}

// unchecked returns why the error of the event's call does not stop the
// use at, or "".
func (s *scope) unchecked(ev *event, at ast.Node) string {
	if ev.errIndex < 0 {
		return ""
	}
	how, v := s.handlingOf(ev.call, ev.errIndex)
	var isErr func(ast.Expr) bool
	switch how {
	case errIgnored:
		return "with a configuration whose " + ev.name + " error is ignored"
	case errReturned:
		return ""
	case errCompared:
		isErr = func(e ast.Expr) bool { return ast.Unparen(e) == ev.call }
	case errAssigned:
		isErr = func(e ast.Expr) bool {
			id, ok := ast.Unparen(e).(*ast.Ident)
			return ok && s.pass.TypesInfo.ObjectOf(id) == v
		}
	}
	if isErr == nil {
		return "reached when " + ev.name + " fails (its error is not checked): return when it is not nil before connecting"
	}
	if r, ok := at.(*ast.ReturnStmt); ok && how == errAssigned {
		for _, e := range r.Results {
			if isErr(e) {
				return "" // returned to the caller
			}
		}
	}
	if s.dominated(ev.call, isErr, at) {
		return ""
	}
	return "reached when " + ev.name + " fails (its error is not checked on every path to it): return when it is not nil before connecting"
}

// dominated: an if statement after call stops at when the error is not
// nil: `if err != nil { return ... }` (or a condition err != nil || ...)
// whose body ends in a return, a branch, a panic or an exit, in a block
// that holds at after it; or at is in the else branch of `if err != nil`
// or in the body of `if err == nil` (&& ...).
func (s *scope) dominated(call *ast.CallExpr, isErr func(ast.Expr) bool, at ast.Node) bool {
	found := false
	ast.Inspect(s.decl, func(n ast.Node) bool {
		ifs, ok := n.(*ast.IfStmt)
		if found || !ok {
			return !found
		}
		after := ifs.Pos() > call.End() || within(call, ifs.Init) || within(call, ifs.Cond)
		if !after {
			return true
		}
		switch {
		case s.compares(ifs.Cond, isErr, token.NEQ, token.LOR):
			if ifs.End() <= at.Pos() && s.terminates(ifs.Body) && within(at, s.block(ifs)) {
				found = true
			} else if ifs.Else != nil && within(at, ifs.Else) && s.compares(ifs.Cond, isErr, token.NEQ, token.ILLEGAL) {
				found = true
			}
		case s.compares(ifs.Cond, isErr, token.EQL, token.LAND):
			found = within(at, ifs.Body)
		}
		return !found
	})
	return found
}

// compares: cond is `e op nil` (or `nil op e`) with isErr(e), or, when
// join is not ILLEGAL, a chain of join whose operand is.
func (s *scope) compares(cond ast.Expr, isErr func(ast.Expr) bool, op, join token.Token) bool {
	b, ok := ast.Unparen(cond).(*ast.BinaryExpr)
	if !ok {
		return false
	}
	if b.Op == op {
		return isErr(b.X) && isNil(b.Y) || isErr(b.Y) && isNil(b.X)
	}
	if join != token.ILLEGAL && b.Op == join {
		return s.compares(b.X, isErr, op, join) || s.compares(b.Y, isErr, op, join)
	}
	return false
}

// block is the node whose statement list holds stmt.
func (s *scope) block(stmt ast.Stmt) ast.Node {
	switch p := s.parent(stmt).(type) {
	case *ast.BlockStmt, *ast.CaseClause, *ast.CommClause:
		return p
	}
	return nil
}

// within: n lies inside outer.
func within(n, outer ast.Node) bool {
	return n != nil && outer != nil && outer.Pos() <= n.Pos() && n.End() <= outer.End()
}

// terminates: the block ends in a statement that leaves it for good.
func (s *scope) terminates(b *ast.BlockStmt) bool {
	return b != nil && len(b.List) > 0 && s.terminal(b.List[len(b.List)-1])
}

// exits are the names of functions and methods taken to end the program,
// the goroutine or the test: os.Exit, log.Fatal, t.Fatal, runtime.Goexit,
// and their look-alikes in logging packages.
var exits = map[string]bool{
	"Exit": true, "Fatal": true, "Fatalf": true, "Fatalln": true, "Fatalw": true,
	"Panic": true, "Panicf": true, "Panicln": true, "Panicw": true,
	"FailNow": true, "SkipNow": true, "Skip": true, "Skipf": true, "Goexit": true,
}

func (s *scope) terminal(st ast.Stmt) bool {
	switch x := st.(type) {
	case *ast.ReturnStmt, *ast.BranchStmt:
		return true
	case *ast.BlockStmt:
		return s.terminates(x)
	case *ast.IfStmt:
		return x.Else != nil && s.terminates(x.Body) && s.terminal(x.Else)
	case *ast.ExprStmt:
		c, ok := ast.Unparen(x.X).(*ast.CallExpr)
		if !ok {
			return false
		}
		if id, ok := ast.Unparen(c.Fun).(*ast.Ident); ok {
			if _, builtin := s.pass.TypesInfo.Uses[id].(*types.Builtin); builtin && id.Name == "panic" {
				return true
			}
		}
		fn := s.callee(c)
		return fn != nil && exits[fn.Name()]
	}
	return false
}

// ignoredConfigures are the calls of securepg.ConfigurePgx and
// ConfigurePool whose error is ignored and not already reported at a
// connect.
func (s *scope) ignoredConfigures() []*ast.CallExpr {
	var out []*ast.CallExpr
	s.calls(func(c *ast.CallExpr) {
		fn := s.callee(c)
		if fn == nil || !configurers[fn.FullName()] || s.blamed[c] || inSecurepg(s.pass.Pkg) {
			return
		}
		if how, _ := s.handlingOf(c, 0); how == errIgnored {
			out = append(out, c)
		}
	})
	return out
}

func ignoredError(fn *types.Func) string {
	return bypass("ignoring the error of securepg."+fn.Name(),
		"a configuration it refused must not be connected with; check the error and do not connect when it is not nil")
}
