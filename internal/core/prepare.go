package core

import (
	"context"
	"database/sql/driver"
)

// Backend is an underlying driver prepared for one DSN: Connect opens one
// connection, resolving each host's credentials with creds, and returns it
// with its validated facts and the violations audit mode let through.
type Backend interface {
	Connect(ctx context.Context, creds CredsFunc, rec *Recorder) (driver.Conn, Facts, []*Violation, error)
}

// Prepare parses dsn with the policy's driver's own parser, hardens the
// configuration and returns the backend and the plan to judge. It is the
// one entry point for the connector and for securepg check.
func Prepare(dsn string, p Policy) (Backend, Plan, error) {
	if p.Driver == DriverPQ {
		c, plan, err := PreparePQ(dsn, p)
		if err != nil {
			return nil, plan, err
		}
		return c, plan, nil
	}
	c, plan, err := PreparePgx(dsn, p)
	if err != nil {
		return nil, plan, err
	}
	return c, plan, nil
}
