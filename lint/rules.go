package lint

// kind is how a call is judged.
type kind int

const (
	// opens: the call always connects without securepg.
	opens kind = iota
	// driverName: argument arg is a database/sql driver name.
	driverName
	// config: argument arg is a configuration the call connects with; a
	// bypass unless securepg configured it.
	config
	// dialer: argument arg is a lib/pq dialer; a bypass unless it comes
	// from securepg.
	dialer
	// connector: the call returns a lib/pq connector; a bypass unless the
	// connector is handed to securepg or given a dialer from securepg.
	connector
	// gormConfig: argument arg is a GORM postgres.Config.
	gormConfig
	// driverValue: argument arg is a database/sql driver; a bypass when it
	// is pgx's or lib/pq's.
	driverValue
)

// rule is how one function is judged and what to use instead.
type rule struct {
	kind kind
	arg  int
	// instead completes "... bypasses the securepg policy: ".
	instead string
}

const (
	pgx5     = "github.com/jackc/pgx/v5"
	pgconn5  = "github.com/jackc/pgx/v5/pgconn"
	pgxpool5 = "github.com/jackc/pgx/v5/pgxpool"
	stdlib5  = "github.com/jackc/pgx/v5/stdlib"
	pgx4     = "github.com/jackc/pgx/v4"
	pgxpool4 = "github.com/jackc/pgx/v4/pgxpool"
	stdlib4  = "github.com/jackc/pgx/v4/stdlib"
	pgconn1  = "github.com/jackc/pgconn"
	pq       = "github.com/lib/pq"
	gormPG   = "gorm.io/driver/postgres"
	sqlx     = "github.com/jmoiron/sqlx"
	otelsql  = "github.com/XSAM/otelsql"
	pgdriver = "github.com/uptrace/bun/driver/pgdriver"

	// securepgPath is the module whose calls configure securepg.
	securepgPath = "github.com/securepg/securepg"
)

// The advice each message ends with.
const (
	useSQLOpen      = `use sql.Open("securepg", dsn) (pgx behind securepg) or sql.Open("securepg-pq", dsn) (lib/pq behind securepg)`
	useConfigurePgx = "call securepg.ConfigurePgx(cfg) on the *pgx.ConnConfig first (pgx.ParseConfig, then securepg.ConfigurePgx, then pgx.ConnectConfig)"
	useConfigPool   = "call securepg.ConfigurePool(cfg) on the *pgxpool.Config first (pgxpool.ParseConfig, then securepg.ConfigurePool, then pgxpool.NewWithConfig)"
	useOpenDB       = "use securepg.OpenDB(cfg), or call securepg.ConfigurePgx(cfg) first"
	usePgconn       = `use pgx with securepg.ConfigurePgx, or sql.Open("securepg", dsn)`
	useV5           = `securepg works with pgx v5: move to pgx v5 and securepg.ConfigurePgx / securepg.ConfigurePool, or use sql.Open("securepg", dsn)`
	usePQConnector  = `use securepg.NewConnector(dsn, libpq.Backend()) with sql.OpenDB, or sql.Open("securepg-pq", dsn)`
	usePQListener   = "use libpq.NewListener(dsn, ...), or pq.NewDialListener with libpq.NewListenerDialer(dsn)"
	usePQDialer     = "give it libpq.NewListenerDialer(dsn)"
	useGORM         = `use postgres.New(postgres.Config{DriverName: "securepg", DSN: dsn})`
	useBun          = `use sql.Open("securepg", dsn) with bun's pgdialect`
	useRegister     = `use securepg's drivers, registered as "securepg" (pgx) and "securepg-pq" (lib/pq): sql.Open("securepg", dsn)`
	useOtelsql      = `use otelsql.Open("securepg", dsn), or otelsql.OpenDB with securepg.NewConnector(dsn)`
	useChecked      = "connect only after securepg.ConfigurePgx / securepg.ConfigurePool returned nil (if err != nil { return ... } before the connect), and change none of the TLSConfig, DialFunc, LookupFunc, Tracer, Fallbacks, ValidateConnect or AfterNetConnect it set (wrap them: cfg.Tracer = multi(cfg.Tracer, mine))"
)

// rules maps a function's types.Func.FullName to how it is judged.
var rules = map[string]rule{
	"database/sql.Open": {driverName, 0, ""},

	sqlx + ".Open":           {driverName, 0, ""},
	sqlx + ".MustOpen":       {driverName, 0, ""},
	sqlx + ".Connect":        {driverName, 0, ""},
	sqlx + ".MustConnect":    {driverName, 0, ""},
	sqlx + ".ConnectContext": {driverName, 1, ""},
	otelsql + ".Open":        {driverName, 0, ""},
	otelsql + ".Register":    {driverName, 0, useOtelsql},

	"database/sql.Register": {driverValue, 1, useRegister},
	otelsql + ".WrapDriver": {driverValue, 0, useOtelsql},

	pgx5 + ".Connect":            {opens, 0, useConfigurePgx},
	pgx5 + ".ConnectWithOptions": {opens, 0, useConfigurePgx},
	pgx5 + ".ConnectConfig":      {config, 1, useConfigurePgx},

	pgconn5 + ".Connect":            {opens, 0, usePgconn},
	pgconn5 + ".ConnectWithOptions": {opens, 0, usePgconn},
	pgconn5 + ".ConnectConfig":      {config, 1, usePgconn},

	pgxpool5 + ".New":           {opens, 0, useConfigPool},
	pgxpool5 + ".NewWithConfig": {config, 1, useConfigPool},

	stdlib5 + ".GetConnector": {config, 0, useOpenDB},
	stdlib5 + ".OpenDB":       {config, 0, useOpenDB},

	pgx4 + ".Connect":           {opens, 0, useV5},
	pgx4 + ".ConnectConfig":     {opens, 0, useV5},
	pgxpool4 + ".Connect":       {opens, 0, useV5},
	pgxpool4 + ".ConnectConfig": {opens, 0, useV5},
	stdlib4 + ".GetConnector":   {opens, 0, useV5},
	stdlib4 + ".OpenDB":         {opens, 0, useV5},
	pgconn1 + ".Connect":        {opens, 0, useV5},
	pgconn1 + ".ConnectConfig":  {opens, 0, useV5},
	pgdriver + ".NewConnector":  {opens, 0, useBun},
	pq + ".Open":                {opens, 0, usePQConnector},
	pq + ".NewListener":         {opens, 0, usePQListener},
	pq + ".NewListenerConn":     {opens, 0, usePQListener},
	pq + ".DialOpen":            {dialer, 0, usePQDialer},
	pq + ".NewDialListener":     {dialer, 0, usePQDialer},
	pq + ".NewConnector":        {connector, 0, usePQConnector},
	pq + ".NewConnectorConfig":  {connector, 0, usePQConnector},
	gormPG + ".Open":            {opens, 0, useGORM},
	gormPG + ".New":             {gormConfig, 0, useGORM},
}

// configurers are the securepg functions that configure, in place, the
// configuration that is their first argument. securepg.OpenDB is not
// among them: it copies the configuration and leaves it as pgx alone
// would connect with it.
var configurers = map[string]bool{
	securepgPath + ".ConfigurePgx":  true,
	securepgPath + ".ConfigurePool": true,
}

// defaultDrivers are the functions that return pgx's database/sql driver.
var defaultDrivers = map[string]string{
	stdlib5 + ".GetDefaultDriver": "pgx",
	stdlib4 + ".GetDefaultDriver": "pgx",
}

// driverTypes are the packages whose Driver type is a PostgreSQL
// database/sql driver that opens connections without securepg.
var driverTypes = map[string]string{
	stdlib5: "pgx",
	stdlib4: "pgx",
	pq:      "lib/pq",
}

// driverNames are the database/sql driver names that pgx, lib/pq and bun
// register, with the advice for each.
var driverNames = map[string]string{
	"pgx":      `use sql.Open("securepg", dsn) (its backend is pgx)`,
	"pgx/v5":   `use sql.Open("securepg", dsn) (its backend is pgx)`,
	"postgres": `use sql.Open("securepg-pq", dsn) to keep lib/pq (and its *pq.Error) behind securepg, or "securepg" to move to pgx`,
	"pg":       useBun,
}

// isSecurepgDriverName: the names securepg registers: "securepg" (pgx)
// and "securepg-pq" (lib/pq).
func isSecurepgDriverName(s string) bool {
	return s == "securepg" || s == "securepg-pq"
}
