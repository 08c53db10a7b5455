package securepg_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/securepg/securepg"
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
	// securepg: refused: db.example.com:5432: sslmode=prefer allows a plaintext fallback; set sslmode=verify-full and sslrootcert (or SECUREPG_SSLROOTCERT), or lower SECUREPG_MIN_SSLMODE to prefer [plaintext_fallback]
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
		securepg.WithDriver("pq"),
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
