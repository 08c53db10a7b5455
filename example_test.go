package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
)

// A DSN weaker than the policy is refused before anything is dialed.
func ExampleNewConnector() {
	_, err := securepg.NewConnector(
		"postgres://app:s3cret@db.example.com/app?sslmode=prefer",
		securepg.WithMinSSLMode("verify-full"),
		securepg.WithLogger(slog.New(slog.DiscardHandler)),
	)
	fmt.Println(err)
	// Output:
	// securepg: refused: db.example.com:5432: sslmode=prefer allows a plaintext fallback; set sslmode=verify-full and sslrootcert (or SECUREPG_SSLROOTCERT), or lower SECUREPG_MIN_SSLMODE to prefer (this program sets SECUREPG_MIN_SSLMODE with WithMinSSLMode) [plaintext_fallback]
}

// Every refusal is an ErrPolicyViolation and a *PolicyError with a stable
// reason code.
func ExamplePolicyError() {
	_, err := securepg.NewConnector(
		"host=db.example.com user=app sslmode=require",
		securepg.WithMinSSLMode("verify-ca"),
		securepg.WithLogger(slog.New(slog.DiscardHandler)),
	)
	var pe *securepg.PolicyError
	if errors.Is(err, securepg.ErrPolicyViolation) && errors.As(err, &pe) {
		fmt.Println(pe.Reason, pe.Host, pe.Got, "<", pe.Want)
	}
	// Output:
	// unverified_certificate db.example.com:5432 require < verify-ca
}

// With sql.OpenDB, options override the SECUREPG_* environment.
func Example_openDB() {
	connector, err := securepg.NewConnector(
		"host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system",
		securepg.WithMinTLSVersion(0x0304), // tls.VersionTLS13
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	fmt.Println("configured; nothing is dialed until the first query")
	// Output:
	// configured; nothing is dialed until the first query
}

// Build a DSN from its parts instead of with fmt.Sprintf: every value is
// escaped as both pgx and lib/pq read it, sslmode is verify-full unless
// set, and printing the DSN never shows the password.
func ExampleDSN() {
	dsn := securepg.DSN{
		Host:     "db.example.com",
		Database: "orders",
		User:     "api",
		Password: `p@ss/w:rd?#&=%' \`, // from a secret store, not from code
		RootCert: "system",
		Params:   map[string]string{"application_name": "orders-api"},
	}
	url, err := dsn.URL()
	if err != nil {
		fmt.Println(err)
		return
	}
	db, err := sql.Open("securepg", url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	fmt.Println(dsn)
	// Output:
	// postgres://api:xxxxx@db.example.com/orders?sslmode=verify-full&sslrootcert=system&application_name=orders-api
}

// Existing code changes one word: the driver name. The policy comes from
// the SECUREPG_* environment (verify-full by default).
func Example() {
	db, err := sql.Open("securepg", "postgres://app@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
	if err != nil {
		log.Fatal(err) // a *securepg.PolicyError: refused before anything was dialed
	}
	defer db.Close()
}

// Code that connects with pgx directly gets the same policy: judge the
// configuration, then connect as usual.
func ExampleConfigurePgx() {
	cfg, err := pgx.ParseConfig("host=db.example.com user=app sslmode=prefer")
	if err != nil {
		fmt.Println(err)
		return
	}
	err = securepg.ConfigurePgx(cfg, securepg.WithLogger(slog.New(slog.DiscardHandler)))
	var pe *securepg.PolicyError
	if errors.As(err, &pe) {
		fmt.Println("refused:", pe.Reason)
		return
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	// Output:
	// refused: plaintext_fallback
}

// A pgxpool: every connection the pool makes is judged and validated,
// with credentials resolved for each.
func ExampleConfigurePool() {
	cfg, err := pgxpool.ParseConfig("host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system")
	if err != nil {
		log.Fatal(err)
	}
	if err := securepg.ConfigurePool(cfg, securepg.WithPasswordFile("/run/secrets/db-password")); err != nil {
		log.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
}

// A pgx configuration built in code (a custom dialer, a tracer) reaches
// database/sql through securepg.
func ExampleOpenDB() {
	cfg, err := pgx.ParseConfig("host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system")
	if err != nil {
		log.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = "app"
	db, err := securepg.OpenDB(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
}

// Hooks see what securepg validated, and hear every violation.
func ExampleWithHooks() {
	connector, err := securepg.NewConnector("host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system",
		securepg.WithHooks(hooks.Hooks{
			AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
				if ci.Version < tls.VersionTLS13 {
					return errors.New("TLS 1.3 only here")
				}
				return nil
			},
			OnViolation: func(_ context.Context, v *hooks.Violation) {
				log.Printf("securepg %s: %s at %s", v.Outcome, v.Reason, v.Host)
			},
		}))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
}

// A credential provider is asked for each new connection and each host,
// so a rotated secret needs no restart.
func ExampleWithCredentials() {
	vault := hooks.CredentialFunc(func(ctx context.Context, a hooks.Attempt) (hooks.Credentials, error) {
		return hooks.Credentials{User: "app", Password: "from-your-secret-store"}, nil
	})
	connector, err := securepg.NewConnector("host=db.example.com dbname=app sslmode=verify-full sslrootcert=system",
		securepg.WithCredentials(vault))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
}

// Reach the underlying driver's connection: pgx's *stdlib.Conn, or lib/pq's.
func ExampleUnwrapConn() {
	db, err := sql.Open("securepg", "host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		if sc, ok := securepg.UnwrapConn(dc).(*stdlib.Conn); ok {
			fmt.Println("backend PID", sc.Conn().PgConn().PID())
		}
		return nil
	})
}

// LISTEN/NOTIFY with lib/pq: every connection the listener makes,
// reconnections included, is validated by securepg.
func ExampleNewListener() {
	l, err := libpq.NewListener("host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system",
		time.Second, time.Minute, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.Listen("orders"); err != nil {
		log.Fatal(err)
	}
	for n := range l.Notify {
		if n != nil {
			fmt.Println(n.Channel, n.Extra)
		}
	}
}

// Rolling out the policy: in audit mode a weak DSN is not refused; each
// violation is reported (log, OnViolation hooks, the violation counter),
// so a service can run with the policy before it is enforced.
func ExampleWithMode() {
	connector, err := securepg.NewConnector(
		"host=db.example.com user=app sslmode=prefer",
		securepg.WithMode("audit"),
		securepg.WithMinSSLMode("verify-full"),
		securepg.WithLogger(slog.New(slog.DiscardHandler)),
		securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) {
			fmt.Println(v.Outcome, v.Reason, v.Host)
		}}),
	)
	fmt.Println(connector != nil, err)
	// Output:
	// audited plaintext_fallback db.example.com:5432
	// true <nil>
}

// A DSN the driver cannot read is a *DSNError, which names keys, never
// values.
func ExampleDSNError() {
	_, err := securepg.NewConnector("host=db.internal password='s3cret sslmode=verify-full")
	var de *securepg.DSNError
	fmt.Println(errors.As(err, &de), errors.Is(err, securepg.ErrPolicyViolation), strings.Contains(err.Error(), "s3cret"))
	// Output: true false false
}
