// Package core is securepg's engine: the org policy and where it comes from,
// the connection attempts that pgx and lib/pq derive from a DSN, the pure
// evaluation of those attempts against the policy, the hardening of the
// drivers' configurations, and the validation of live connections.
//
// The stages, each judged by one pure function: the plan (Evaluate, at
// sql.Open), the address (JudgeAddress, on the exact address each dialer
// is about to connect to, before the dial, and on the peer connected to),
// the handshake and the connection (Judge), the authentication
// (PasswordProtected and the authentication watch) and the session
// (JudgeSession). Decide applies the mode to what they return.
//
// The root package securepg is a thin facade over this package; the command
// in cmd/securepg uses it directly to explain its verdicts.
package core
