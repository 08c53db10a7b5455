package libpq_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/libpq"
)

// Existing lib/pq code changes its driver name and keeps *pq.Error; a
// DSN weaker than the policy is refused at sql.Open, before anything is
// dialed.
func Example() {
	db, err := sql.Open("securepg-pq", "host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	_, err = sql.Open("securepg-pq", "host=db.example.com user=app dbname=app sslmode=disable")
	fmt.Println(errors.Is(err, securepg.ErrPolicyViolation))
	// Output:
	// true
}

// With sql.OpenDB: securepg's connector on the lib/pq backend.
func ExampleBackend() {
	c, err := securepg.NewConnector("host=db.example.com user=app dbname=app sslmode=require",
		libpq.Backend(), securepg.WithLogger(slog.New(slog.DiscardHandler)))
	fmt.Println(err)
	if err == nil {
		sql.OpenDB(c).Close()
	}
	// Output:
	// securepg: refused: db.example.com:5432: sslmode=require encrypts but does not verify the server certificate; set sslmode=verify-full and sslrootcert (or SECUREPG_SSLROOTCERT), or lower SECUREPG_MIN_SSLMODE to require [unverified_certificate]
}

// A LISTEN/NOTIFY listener whose every connection, reconnections
// included, securepg dials, verifies and judges.
func ExampleNewListener() {
	l, err := libpq.NewListener("host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system",
		time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
			if err != nil {
				slog.Warn("listener", "event", ev, "error", err)
			}
		}, securepg.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	fmt.Println(l.Listen("orders"))
}
