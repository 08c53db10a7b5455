// Package core is securepg's engine: the org policy and where it comes from,
// the connection attempts that pgx and lib/pq derive from a DSN, the pure
// evaluation of those attempts against the policy, the hardening of the
// drivers' configurations, and the validation of live connections.
//
// Every way in passes the gate (gate.go): the stages plan (before any
// dial), address (the exact address each dialer is about to connect to,
// before the dial, and the peer connected to), handshake (the TLS facts),
// credential (what the driver would send, against what the peer proved),
// auth (what the server asks for at login, seen by the authentication
// watch) and session (the role). Each is judged by a pure function and
// decided by Pass, the one place where the mode is applied.
//
// From sql.Open("securepg", dsn) to a connection, file by file:
//
//	driver.go              OpenConnector → newConnector → buildConnector (connector.go)
//	core/prepare.go        Prepare: the policy, then PreparePgx (pgx.go) or libpq's pqconn.Prepare: the plan
//	connector.go           JudgePlan (judge.go, gate.go): the plan stage, before any dial
//	connector.go           Connect → the backend's Connect, each host's credentials (credentials.go)
//	core/pgxdial.go        per attempt: the address stage, the dial, the peer (pqdial.go for lib/pq)
//	core/tls.go            observe: the handshake stage, roots and pins that follow their files
//	core/authwatch.go      the credential and auth stages: what the server asks for, against what was proved
//	core/pgxattempts.go    FinishPgConn: the session stage (roleask.go, privilege.go; pqfinish.go for lib/pq)
//	connector.go           outcome: spans, metrics, logs and OnViolation for every way in
//	conn.go                the live conn: query hooks and operation spans
//
// The root package securepg holds the database/sql and pgx surfaces, the
// hooks and the telemetry, and calls this package to plan, connect and
// judge; package internal/pqconn is lib/pq's backend on top of it (the
// only importer of lib/pq), reached from package libpq through an option
// (internal/seam); the command in cmd/securepg uses both directly to
// explain its verdicts. Calls go one way: nothing here calls back up but
// through an argument (a connect's credentials, a listener's report).
package core
