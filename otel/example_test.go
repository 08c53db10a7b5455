package otel_test

import (
	"database/sql"
	"log"

	_ "github.com/securepg/securepg"
	"github.com/securepg/securepg/otel"
)

// Pool metrics for a *sql.DB: register once, unregister at close.
func ExampleRegisterDBStats() {
	db, err := sql.Open("securepg", "host=db.example.com user=app dbname=app sslmode=verify-full sslrootcert=system")
	if err != nil {
		log.Fatal(err)
	}
	reg, err := otel.RegisterDBStats(db)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()
	defer db.Close()
}
