package core

import (
	"cmp"
	"context"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"strings"
)

// Backend is an underlying driver prepared for one DSN: Connect opens one
// connection, resolving each host's credentials with creds, and returns it
// with its validated facts and the violations audit mode let through.
type Backend interface {
	Connect(ctx context.Context, creds CredsFunc, rec *Recorder) (driver.Conn, Facts, []*Violation, error)
}

// Prepare parses dsn with pgx's own parser, hardens the configuration and
// returns the backend and the plan to judge.
func Prepare(dsn string, p Policy) (Backend, Plan, error) {
	c, plan, err := PreparePgx(dsn, p)
	if err != nil {
		return nil, plan, err
	}
	return c, plan, nil
}

// ServerAuth is how target i of a prepared backend verifies the server:
// the roots (nil for the system's), the name verify-full checks, and the
// level the configuration demands, for securepg probe.
func ServerAuth(b Backend, i int) (roots *x509.CertPool, name string, level Verification, err error) {
	var a *TLSAuth
	switch b := b.(type) {
	case *PgxConfig:
		for _, e := range b.entries {
			if e.index == i && e.auth != nil {
				a = e.auth
				break
			}
		}
	case interface{ TLSAuthOf(i int) *TLSAuth }:
		a = b.TLSAuthOf(i)
	}
	if a == nil {
		return nil, "", VerifyNone, nil
	}
	var r *Roots
	if m := cmp.Or(a.Roots, a.Later); m != nil {
		r, err = m.Get(context.Background())
	}
	return r.pool(), a.Name, a.Level, err
}

// PgxRegisteredName refuses a name from pgx's stdlib.RegisterConnConfig
// given to sql.Open as a DSN, which a driver would parse as one.
func PgxRegisteredName(name string) error {
	if strings.HasPrefix(name, "registeredConnConfig") {
		return errors.New("securepg: " + SafeText(name) + " is a name from pgx's stdlib.RegisterConnConfig, whose registry securepg cannot read; open the configuration with securepg.OpenDB instead")
	}
	return nil
}
