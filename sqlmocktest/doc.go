// Package sqlmocktest lets code that opens its database with
// sql.Open("securepg", dsn) keep its go-sqlmock unit tests, and makes those
// tests prove that the DSNs it ships pass the organisation's policy.
//
// New returns a *sql.DB that goes through securepg's real chain — the DSN
// parsed by the chosen driver's own parser and judged under the current
// SECUREPG_* environment, validation of a simulated TLS state, hooks and
// OpenTelemetry — with go-sqlmock where the network would be. A DSN that
// production would refuse is refused here with the same *securepg.PolicyError:
//
//	db, mock, err := sqlmocktest.New(t, "postgres://app@db.internal/app?sslmode=verify-full")
//	if err != nil {
//		t.Fatal(err) // the policy refused the DSN
//	}
//	mock.ExpectQuery("SELECT name FROM users").WillReturnRows(sqlmock.NewRows([]string{"name"}).AddRow("ada"))
//
// Code that calls sql.Open itself reaches the mock through Register, for
// the duration of the test.
//
// Nothing here touches the network: no TCP or unix connection is made.
package sqlmocktest
