// Package pqconn is securepg's lib/pq backend: lib/pq's configuration
// hardened by a policy, connected through core.PQDialer, and lib/pq's
// listeners on it. It is the only package of the driver that imports
// lib/pq (so a pgx-only program does not link it); package libpq registers it.
package pqconn

import (
	"database/sql/driver"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/securepg/securepg/internal/core"
)

// Prepare is core.Prepare for lib/pq: the backend and the plan to judge.
func Prepare(dsn string, p core.Policy) (core.Backend, core.Plan, error) {
	c, plan, err := PreparePQ(dsn, p)
	if err != nil {
		return nil, plan, err
	}
	return c, plan, nil
}

// Parse is lib/pq's parser, for core.RedactDSN.
func Parse(s string) error {
	_, err := pq.NewConfig(s)
	return err
}

// TLSAuthOf is how target i verifies the server (core.ServerAuth), or nil
// where it does no TLS.
func (c *PQConfig) TLSAuthOf(i int) *core.TLSAuth {
	if i < len(c.targets) && c.targets[i].TLS != nil {
		return c.targets[i].TLS.Auth()
	}
	return nil
}

// serverError is lib/pq's error value for an ErrorResponse's fields, as
// lib/pq would have built it (core.PQNet.ServerError).
func serverError(fields map[byte]string) error {
	return &pq.Error{Severity: fields['S'], Code: pqerror.Code(fields['C']), Message: fields['M'], Detail: fields['D'],
		Hint: fields['H'], Position: fields['P'], InternalPosition: fields['p'], InternalQuery: fields['q'], Where: fields['W'],
		Schema: fields['s'], Table: fields['t'], Column: fields['c'], DataTypeName: fields['d'], Constraint: fields['n'],
		File: fields['F'], Line: fields['L'], Routine: fields['R']}
}

// SetNoticeHandler sets h on a lib/pq connection (lib/pq's function
// panics on anything else: a stand-in's, for instance).
func SetNoticeHandler(conn driver.Conn, h func(*pq.Error)) {
	defer func() { _ = recover() }()
	pq.SetNoticeHandler(conn, h)
}

// SetServerView makes every new connection ask the server's view of its
// TLS (see ServerView), or only under a recording connect span.
func (c *PQConfig) SetServerView(always bool) { c.ServerView = always }
