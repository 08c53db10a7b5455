// Package lint finds the places in a Go codebase where a PostgreSQL
// connection is opened without securepg, so that the organisation's policy
// is not quietly bypassed by one untouched sql.Open("pgx", ...) or
// pgxpool.New. In CI, run its [Analyzer] with the securepg tool:
//
//	securepg lint ./...
//
// which exits 3 when it finds a bypass and 2 when the packages do not load
// (a type error, a missing package, a bad pattern). It also runs under go
// vet, with go vet's standard analyzers (securepg-vet runs both). Guard the
// tool's lookup: go vet -vettool=$(which securepg-vet) runs go vet's own
// tool, and passes, when securepg-vet is not installed:
//
//	set -e
//	go install github.com/securepg/securepg/cmd/securepg-vet@latest
//	tool=$(command -v securepg-vet) # fails here when it is not on PATH
//	go vet -vettool="$tool" ./...
//
// # What is reported
//
// A call that opens, or builds something that will open, a PostgreSQL
// connection with pgx (v5 and v4), lib/pq, GORM's PostgreSQL driver or
// bun's pgdriver:
//
//   - sql.Open, and the wrappers sqlx.Open, sqlx.MustOpen, sqlx.Connect,
//     sqlx.MustConnect, sqlx.ConnectContext, otelsql.Open and
//     otelsql.Register, with a constant driver name that pgx ("pgx",
//     "pgx/v5"), lib/pq ("postgres") or bun ("pg") registers;
//   - pgx's or lib/pq's database/sql driver (stdlib.GetDefaultDriver(),
//     a stdlib.Driver or pq.Driver value, or a variable assigned
//     stdlib.GetDefaultDriver() in the same function) given to
//     sql.Register or otelsql.WrapDriver, or whose Open or OpenConnector
//     method is called;
//   - pgx.Connect, pgx.ConnectWithOptions, pgconn.Connect,
//     pgconn.ConnectWithOptions and pgxpool.New, which parse and dial by
//     themselves;
//   - pgx.ConnectConfig, pgconn.ConnectConfig, pgxpool.NewWithConfig,
//     stdlib.GetConnector and stdlib.OpenDB, unless securepg configured the
//     configuration they are given (see below);
//   - pq.Open, pq.NewListener, pq.NewListenerConn, and pq.DialOpen and
//     pq.NewDialListener unless their dialer comes from securepg;
//     pq.NewConnector and pq.NewConnectorConfig unless the connector's
//     Dialer is set, later in the same function, to a dialer from
//     securepg (handing the connector to securepg does not count:
//     libpq.ConnectorWithNoticeHandler gives it back to lib/pq);
//   - GORM's postgres.Open, and a postgres.Config, given to postgres.New
//     or in a postgres.Dialector literal (&postgres.Dialector{Config:
//     &postgres.Config{...}}), that has neither a securepg DriverName
//     ("securepg", "securepg-pq") nor a Conn;
//   - every function of pgx v4, pgconn v1 and their pgxpool and stdlib
//     that connects (securepg works with pgx v5), and bun's
//     pgdriver.NewConnector.
//
// Each message says what to use instead.
//
// # What counts as securepg
//
// A configuration (a *pgx.ConnConfig, *pgxpool.Config, *pgconn.Config)
// is taken as configured by securepg when, earlier in the same top-level
// function (closures included, in source order), it was given to
// securepg.ConfigurePgx or securepg.ConfigurePool, as in:
//
//	cfg, err := pgxpool.ParseConfig(dsn)
//	...
//	if err := securepg.ConfigurePool(cfg); err != nil { ... }
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//
// Configuring a pool's configuration configures its ConnConfig (and the
// pgconn.Config in it), and securepg.ConfigurePgx(pc.ConnConfig)
// configures the pool pc, as securepg.ConfigurePool(pc) does. Other
// securepg functions that take a configuration do not configure it:
// securepg.OpenDB copies it and leaves it as
// pgx alone connects with it, so a pgx.ConnectConfig or
// pgxpool.NewWithConfig on it afterwards is reported.
//
// A value (a configuration, a dialer, a connection pool) is securepg's
// when it is the result of a call into github.com/securepg/securepg or
// one of its packages, a variable assigned such a result in the same
// function, or of a type securepg defines.
//
// # Limits
//
// The analysis is syntactic and local, so it can be fooled and it can be
// wrong in both directions:
//
//   - A driver name is followed through constants and variables (local or
//     package-level) assigned constants; one read at run time (os.Getenv,
//     a struct field, a flag) is not reported.
//   - A function that connects (sql.Open, pgx.Connect, pgxpool.New,
//     pgxpool.NewWithConfig, stdlib.OpenDB, ...) used as a value rather
//     than called is reported: what it will connect with cannot be checked.
//   - A configuration counts as configured only when the last
//     securepg.ConfigurePgx / ConfigurePool before the connect lies on
//     every path to it, its error is checked (if err != nil ending in
//     return, a branch, panic, or a Fatal/Exit-like call; or the connect
//     sits in the else branch or under err == nil), and neither the
//     configuration, its ConnConfig nor its TLSConfig, DialFunc,
//     LookupFunc, Tracer, Fallbacks, ValidateConnect or AfterNetConnect is
//     set afterwards (a value that wraps the old one is accepted). An
//     ignored error is reported where it is ignored.
//   - Helpers are followed within the package only: a function that
//     returns a configuration it configured, or configures a parameter,
//     on every successful return. A helper in another package is not (the
//     analyzer exchanges no facts): its caller is reported; accept it with
//     a directive. Order is source order; loops are not unrolled.
//   - *pq.Error checks (type assertion, type switch, errors.As) are
//     reported in a package that opens securepg's pgx backend
//     (sql.Open("securepg"), securepg.NewConnector, securepg.OpenDB).
//   - sql.OpenDB is not itself reported: the connector it is given is
//     judged where it was made. stdlib.OpenDBFromPool and
//     stdlib.GetPoolConnector likewise: the pool is judged where it was
//     made.
//
// # Accepting a call
//
// A call that is meant to bypass the policy (a test against a throwaway
// local server, a tool that is never deployed) is accepted with a comment
// that starts with securepg:allow and says why, after a space. A comment
// alone on its line accepts the calls that start on the next line:
//
//	//securepg:allow the test cluster listens on a unix socket only
//	conn, err := pgconn.Connect(ctx, socketDSN)
//
// A comment after code accepts the calls that start on its own line, and
// no other:
//
//	db, err := sql.Open("pgx", dsn) //securepg:allow a local tool, never deployed
//
// The reason ends at a following // comment. A directive without a
// reason (//securepg:allow alone, or followed by another comment) accepts
// nothing and is itself reported. A reviewer can find every exception
// with grep.
package lint
