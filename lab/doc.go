// Package lab starts throwaway PostgreSQL servers with TLS on 127.0.0.1,
// from the system's binaries (initdb and pg_ctl of PostgreSQL 15 or
// newer) or a given version's (StartWith, FindVersionBinDir: PostgreSQL
// 18 from .ci/install-pg18), with a CA and certificates generated in Go:
// what securepg's demo, its examples and its tests run against, and what
// your integration tests can too. It is a supported helper, not part of
// the driver: a program that imports securepg alone never links it.
//
// Beside the server, the lab runs the peers that attack a client: a proxy
// that strips TLS, impostors with bad certificates, a byte injector after
// the SSLRequest's answer, peers that stall, and a fake server that asks
// for a cleartext password, so that a client's refusals can be tested
// against something real. Everything listens on loopback only, and Stop
// removes everything.
//
//	c, err := lab.Start(ctx, nil)
//	if err != nil { ... }
//	defer c.Stop()
//	db, err := sql.Open("securepg", c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile))
//
// A start that fails or whose context is cancelled returns an error
// carrying what initdb or the server said, and leaves nothing behind: no
// directory, no process. Nothing in this package panics or imports
// package testing; the helpers that take a testing.TB (a cluster shared by
// a test binary, an environment without PG* variables) are in
// [github.com/securepg/securepg/lab/labtest].
package lab
