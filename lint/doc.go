// Package lint finds the places in a Go codebase where a PostgreSQL
// connection is opened without securepg, so that the organisation's policy
// is not quietly bypassed by one untouched sql.Open("pgx", ...) or
// pgxpool.New. Its [Analyzer] runs under go vet:
//
//	go install github.com/securepg/securepg/cmd/securepg-vet@latest
//	go vet -vettool=$(which securepg-vet) ./...
//
// and as a subcommand of the securepg tool: securepg lint ./...
//
// # What is reported
//
// A call that opens, or builds something that will open, a PostgreSQL
// connection with pgx (v5 and v4), lib/pq, GORM's PostgreSQL driver or
// bun's pgdriver:
//
//   - sql.Open, and the wrappers sqlx.Open, sqlx.MustOpen, sqlx.Connect,
//     sqlx.MustConnect, sqlx.ConnectContext and otelsql.Open, with a
//     constant driver name that pgx ("pgx", "pgx/v5"), lib/pq ("postgres")
//     or bun ("pg") registers;
//   - pgx.Connect, pgx.ConnectWithOptions, pgconn.Connect,
//     pgconn.ConnectWithOptions and pgxpool.New, which parse and dial by
//     themselves;
//   - pgx.ConnectConfig, pgconn.ConnectConfig, pgxpool.NewWithConfig,
//     stdlib.GetConnector and stdlib.OpenDB, unless securepg configured the
//     configuration they are given (see below);
//   - pq.Open, pq.NewListener, pq.NewListenerConn, and pq.DialOpen and
//     pq.NewDialListener unless their dialer comes from securepg;
//     pq.NewConnector and pq.NewConnectorConfig unless the connector is
//     handed to securepg or its Dialer set from securepg;
//   - GORM's postgres.Open, and postgres.New whose postgres.Config has
//     neither a securepg DriverName ("securepg", "securepg-pgx",
//     "securepg-pq") nor a Conn;
//   - every function of pgx v4, pgconn v1 and their pgxpool and stdlib
//     that connects (securepg works with pgx v5), and bun's
//     pgdriver.NewConnector.
//
// Each message says what to use instead.
//
// # What counts as securepg
//
// Any call into github.com/securepg/securepg or one of its packages. A
// configuration (a *pgx.ConnConfig, *pgxpool.Config, *pgconn.Config) is
// taken as configured by securepg when, earlier in the same top-level
// function (closures included, in source order), it, a field of it, or the
// value it is a field of, was an argument of such a call, as in:
//
//	cfg, err := pgxpool.ParseConfig(dsn)
//	...
//	if err := securepg.ConfigurePool(cfg); err != nil { ... }
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//
// or when it is the result of such a call, or of a type securepg defines.
// A dialer comes from securepg in the same ways.
//
// # Limits
//
// The analysis is syntactic and local, so it can be fooled and it can be
// wrong in both directions:
//
//   - A driver name, or a GORM DriverName, that is not a constant is not
//     reported: the analyzer cannot tell what it will be (it reports what it
//     knows, rather than every sql.Open of a multi-database program). Nor
//     is a postgres.Config that is not a composite literal at the call.
//   - Dataflow does not cross functions: a configuration configured by the
//     caller and passed as a parameter is reported (mark the call, see
//     below); one configured after the call, or reassigned after being
//     configured, is judged by source order only.
//   - A function value (f := pgx.Connect; f(ctx, dsn)) and wrappers other
//     than those listed (a company's own OpenDB(driverName, dsn), ent's
//     generated Open, goose.OpenDBWithDriver) are not followed.
//   - sql.OpenDB is not itself reported: the connector it is given is
//     judged where it was made. stdlib.OpenDBFromPool and
//     stdlib.GetPoolConnector likewise: the pool is judged where it was
//     made.
//
// # Accepting a call
//
// A call that is meant to bypass the policy (a test against a throwaway
// local server, a tool that is never deployed) is accepted with a comment
// on its line or the line above that starts with securepg:allow and says
// why:
//
//	//securepg:allow the test cluster listens on a unix socket only
//	conn, err := pgconn.Connect(ctx, socketDSN)
//
// A reviewer can find every such exception with grep.
package lint
