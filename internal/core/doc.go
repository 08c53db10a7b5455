// Package core is securepg's engine: the org policy and where it comes from,
// the connection attempts that pgx and lib/pq derive from a DSN, the pure
// evaluation of those attempts against the policy, the hardening of the
// drivers' configurations, and the validation of live connections.
//
// The root package securepg is a thin facade over this package; the command
// in cmd/securepg uses it directly to explain its verdicts.
package core
