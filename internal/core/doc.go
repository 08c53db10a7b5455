// Package core is securepg's engine: the org policy and where it comes from,
// the connection attempts that pgx and lib/pq derive from a DSN, their pure
// evaluation against the policy, the hardening of the drivers'
// configurations, and the validation of live connections.
//
// Every way in passes the gate (gate.go): the stages plan, address,
// handshake, credential, auth and session, each judged by a pure function
// and decided by Pass, the one place where the mode is applied.
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
// hooks and the telemetry; package internal/pqconn is lib/pq's backend
// (the only importer of lib/pq); cmd/securepg uses both to explain its
// verdicts. Nothing here calls back up but through an argument.
package core
