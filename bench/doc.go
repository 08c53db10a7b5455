// Package bench compares securepg's telemetry with the database/sql
// instrumentation that teams use today (XSAM/otelsql, uptrace otelsql), on
// an in-memory driver, so that only the instrumentation is measured. It is
// a module of its own, so that securepg does not depend on what it is
// compared with. See BENCHMARKS.md at the repository root.
package bench
