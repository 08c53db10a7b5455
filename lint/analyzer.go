package lint

import (
	"fmt"
	"go/ast"
	"go/token"
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
		"A call is accepted by a //securepg:allow <reason> comment alone on the line above it, " +
		"or after code on the line where it starts; a directive without a reason is reported.",
	URL: "https://pkg.go.dev/github.com/securepg/securepg/lint",
	Run: run,
}

func run(pass *analysis.Pass) (any, error) {
	pkg := newPackage(pass)
	for _, f := range pass.Files {
		allowed, malformed := allowances(pass.Fset, f)
		for _, c := range malformed {
			pass.Report(analysis.Diagnostic{Pos: c.Pos(), End: c.End(), Message: malformedAllow})
		}
		report := func(n ast.Node, msg string) {
			if msg != "" && !allowed[pass.Fset.Position(n.Pos()).Line] {
				pass.Report(analysis.Diagnostic{Pos: n.Pos(), End: n.End(), Message: msg})
			}
		}
		for _, decl := range f.Decls {
			s := pkg.scope(decl)
			callees := make(map[ast.Expr]bool)
			sels := make(map[*ast.Ident]bool)
			ast.Inspect(decl, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					callees[ast.Unparen(x.Fun)] = true
					report(x, s.judge(x))
					report(x, s.pqErrorCheck(x))
				case *ast.CompositeLit:
					report(x, s.judgeLit(x))
				case *ast.SelectorExpr:
					sels[x.Sel] = true
					report(x, s.funcValue(x, x.Sel, callees))
				case *ast.Ident:
					if !sels[x] {
						report(x, s.funcValue(x, x, callees))
					}
				case *ast.TypeAssertExpr, *ast.TypeSwitchStmt:
					report(x, s.pqErrorCheck(x))
				}
				return true
			})
			for _, c := range s.ignoredConfigures() {
				report(c, ignoredError(s.callee(c)))
			}
		}
	}
	return nil, nil
}

// judge returns the message for a call that bypasses the policy, or "".
func (s *scope) judge(call *ast.CallExpr) string {
	if msg := s.driverOpen(call); msg != "" {
		return msg
	}
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
		d, ok := s.driverString(arg())
		if !ok {
			return "" // not a constant: cannot tell
		}
		if advice, ok := driverNames[d]; ok {
			if r.instead != "" {
				advice = r.instead
			}
			return bypass(fmt.Sprintf("%s with driver %s", name, strconv.Quote(d)), advice)
		}
	case driverValue:
		if who := s.pgDriver(arg()); who != "" {
			return bypass(name+" with "+who+"'s driver", r.instead)
		}
	case config:
		switch msg := s.configuration(arg(), call); msg {
		case "":
		case notConfigured:
			return bypass(name+" "+msg, r.instead)
		default:
			return bypass(name+" "+msg, useChecked)
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

// gormConfig judges the postgres.Config given to GORM's postgres.New: ""
// when it has a Conn (the pool is judged where it was opened), a securepg
// DriverName, a DriverName that is not a constant, or a constant the
// analyzer does not know; otherwise what is wrong with it. A config that
// is not a composite literal at the call cannot be told and is not
// reported.
func (s *scope) gormConfig(e ast.Expr) string {
	lit, ok := strip(e).(*ast.CompositeLit)
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
	d, ok := s.driverString(driver)
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

// judgeLit returns the message for a composite literal that bypasses the
// policy, or "": a GORM postgres.Dialector built by hand, whose Config is
// judged as postgres.New's is. (GORM's own package builds them: not
// reported there.)
func (s *scope) judgeLit(lit *ast.CompositeLit) string {
	if !isNamed(s.pass.TypesInfo.TypeOf(lit), gormPG, "Dialector") || s.pass.Pkg.Path() == gormPG {
		return ""
	}
	var cfg ast.Expr
	for i, elt := range lit.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok {
			if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Config" {
				cfg = kv.Value
			}
		} else if i == 0 {
			cfg = elt // Dialector{&postgres.Config{...}}: its one field
		}
	}
	if cfg == nil {
		return "" // no Config: GORM opens nothing with it
	}
	if msg := s.gormConfig(cfg); msg != "" {
		return bypass("postgres.Dialector "+msg, useGORM)
	}
	return ""
}

// driverOpen returns the message for a call of Open or OpenConnector on
// pgx's or lib/pq's database/sql driver (stdlib.GetDefaultDriver().Open(dsn),
// pq.Driver{}.Open(dsn)), or "".
func (s *scope) driverOpen(call *ast.CallExpr) string {
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Open" && sel.Sel.Name != "OpenConnector" {
		return ""
	}
	if _, isMethod := s.pass.TypesInfo.Selections[sel]; !isMethod {
		return "" // a package's function: sql.Open, pq.Open
	}
	if who := s.pgDriver(sel.X); who != "" {
		return bypass(sel.Sel.Name+" on "+who+"'s database/sql driver", useSQLOpen)
	}
	return ""
}

// pgDriver names whose database/sql driver e is ("pgx", "lib/pq"), or "":
// a call of stdlib.GetDefaultDriver, a value of type stdlib.Driver or
// pq.Driver (or a pointer to one), or a variable of the declaration
// assigned a call of stdlib.GetDefaultDriver.
func (s *scope) pgDriver(e ast.Expr) string {
	if e == nil {
		return ""
	}
	e = strip(e)
	if c, ok := e.(*ast.CallExpr); ok {
		if fn := typeutil.StaticCallee(s.pass.TypesInfo, c); fn != nil {
			return defaultDrivers[fn.FullName()]
		}
	}
	t := s.pass.TypesInfo.TypeOf(e)
	for path, who := range driverTypes {
		if isNamed(t, path, "Driver") {
			return who
		}
	}
	if id, ok := e.(*ast.Ident); ok {
		if v, ok := s.pass.TypesInfo.ObjectOf(id).(*types.Var); ok {
			for _, r := range s.assigned(v) {
				if c, ok := ast.Unparen(r).(*ast.CallExpr); ok {
					if fn := typeutil.StaticCallee(s.pass.TypesInfo, c); fn != nil && defaultDrivers[fn.FullName()] != "" {
						return defaultDrivers[fn.FullName()]
					}
				}
			}
		}
	}
	return ""
}

// isNamed: t is the named type pkg.name, or a pointer to it.
func isNamed(t types.Type, pkg, name string) bool {
	if t == nil {
		return false
	}
	if ptr, ok := types.Unalias(t).(*types.Pointer); ok {
		t = ptr.Elem()
	}
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == pkg && n.Obj().Name() == name
}

// assignment is the left and right sides of an assignment statement or
// of a var or const spec (whose names are its left side); ok is false for
// any other node.
func assignment(n ast.Node) (lhs, rhs []ast.Expr, ok bool) {
	switch x := n.(type) {
	case *ast.AssignStmt:
		return x.Lhs, x.Rhs, true
	case *ast.ValueSpec:
		lhs := make([]ast.Expr, len(x.Names))
		for i, n := range x.Names {
			lhs[i] = n
		}
		return lhs, x.Values, true
	}
	return nil, nil, false
}

// strip removes parentheses, & and * around an expression.
func strip(e ast.Expr) ast.Expr {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.UnaryExpr:
			if x.Op != token.AND {
				return e
			}
			e = x.X
		default:
			return e
		}
	}
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
	pkg  *pkgState
	pass *analysis.Pass
	decl ast.Decl
	// parents maps each node of the declaration to its parent; built on
	// first use.
	parents map[ast.Node]ast.Node
	// blamed are the configure calls whose unchecked error a connect was
	// reported for: not reported again on their own.
	blamed map[*ast.CallExpr]bool
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

// parent is n's parent in the declaration, or nil.
func (s *scope) parent(n ast.Node) ast.Node {
	if s.parents == nil {
		s.parents = make(map[ast.Node]ast.Node)
		var stack []ast.Node
		ast.Inspect(s.decl, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			if len(stack) > 0 {
				s.parents[n] = stack[len(stack)-1]
			}
			stack = append(stack, n)
			return true
		})
	}
	return s.parents[n]
}
