package lint

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/types/typeutil"
)

// pqErrorMsg is the message for a *pq.Error check in a package that opens
// securepg's pgx backend.
const pqErrorMsg = `*pq.Error never matches an error of securepg's "securepg" driver: its backend is pgx, whose errors are *pgconn.PgError; ` +
	`use errors.As(err, &pgErr) with pgErr *pgconn.PgError (the same SQLSTATE is in its Code field), or sql.Open("securepg-pq", dsn) to keep lib/pq and its errors`

// pgxOpeners are the securepg functions that open its pgx backend.
var pgxOpeners = map[string]bool{
	securepgPath + ".NewConnector": true,
	securepgPath + ".OpenDB":       true,
}

// pqErrorCheck returns the message for a check of an error against
// lib/pq's *pq.Error (a type assertion, a type switch case, errors.As
// into a *pq.Error) in a package that opens securepg's pgx backend, or "".
func (s *scope) pqErrorCheck(n ast.Node) string {
	found := false
	info := s.pass.TypesInfo
	switch x := n.(type) {
	case *ast.TypeAssertExpr:
		found = x.Type != nil && isNamed(info.TypeOf(x.Type), pq, "Error")
	case *ast.TypeSwitchStmt:
		for _, c := range x.Body.List {
			for _, e := range c.(*ast.CaseClause).List {
				found = found || isNamed(info.TypeOf(e), pq, "Error")
			}
		}
	case *ast.CallExpr:
		fn := typeutil.StaticCallee(info, x)
		if fn != nil && fn.FullName() == "errors.As" && len(x.Args) == 2 {
			if ptr, ok := types.Unalias(info.TypeOf(x.Args[1])).(*types.Pointer); ok {
				found = isNamed(ptr.Elem(), pq, "Error")
			}
		}
	}
	if !found || !s.pkg.opensPgx() {
		return ""
	}
	return pqErrorMsg
}

// opensPgx reports whether the package opens securepg's pgx backend:
// sql.Open (or a wrapper) with the driver name "securepg" or
// securepg.NewConnector (without libpq.Backend()) or securepg.OpenDB. securepg's
// own packages are not judged.
func (p *pkgState) opensPgx() bool {
	if p.pgxBackend != nil {
		return *p.pgxBackend
	}
	opens := false
	if !inSecurepg(p.pass.Pkg) {
		for _, f := range p.pass.Files {
			for _, decl := range f.Decls {
				s := p.scope(decl)
				s.calls(func(c *ast.CallExpr) {
					opens = opens || s.opensPgx(c)
				})
			}
		}
	}
	p.pgxBackend = &opens
	return opens
}

func (s *scope) opensPgx(c *ast.CallExpr) bool {
	fn := typeutil.StaticCallee(s.pass.TypesInfo, c)
	if fn == nil {
		return false
	}
	if pgxOpeners[fn.FullName()] {
		return !s.choosesPQ(c)
	}
	r, ok := rules[fn.FullName()]
	if !ok || r.kind != driverName || r.arg >= len(c.Args) {
		return false
	}
	for _, d := range s.consts(c.Args[r.arg], 0) {
		if d == "securepg" {
			return true
		}
	}
	return false
}

// choosesPQ reports whether one of c's arguments is libpq.Backend(): the
// connector is lib/pq's.
func (s *scope) choosesPQ(c *ast.CallExpr) bool {
	for _, a := range c.Args {
		if call, ok := ast.Unparen(a).(*ast.CallExpr); ok {
			if fn := typeutil.StaticCallee(s.pass.TypesInfo, call); fn != nil && fn.FullName() == securepgPath+"/libpq.Backend" {
				return true
			}
		}
	}
	return false
}
