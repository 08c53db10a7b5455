package securepg_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/securepg/securepg/libpq"

	"github.com/securepg/securepg"
)

// TestServiceFileReadAsTheDriverReadsIt: where pgx and lib/pq read a
// pg_service.conf differently, securepg's verdict follows the driver in
// use. lib/pq trims the blanks inside "[ s ]" and takes the first section
// of a name; pgx takes the last, whole. An sslmode the driver reads there
// is judged (refused when weaker); a section the driver does not read
// leaves the sslmode implicit, upgraded to the policy's minimum.
func TestServiceFileReadAsTheDriverReadsIt(t *testing.T) {
	for _, c := range []struct {
		name, driver, file string
		refused            bool
	}{
		{"pq: blanks in the section name", libpq.DriverName, "[ s ]\nhost=localhost\nsslmode=disable\n", true},
		{"pgx: blanks in the section name", securepg.DriverName, "[ s ]\nsslmode=disable\n[s]\nhost=localhost\n", false},
		{"pq: the first section of a name", libpq.DriverName, "[s]\nhost=localhost\nsslmode=require\n[s]\nhost=localhost\n", true},
		{"pgx: the last section of a name", securepg.DriverName, "[s]\nsslmode=require\n[s]\nhost=localhost\n", false},
		{"pgx: the last section of a name, weak", securepg.DriverName, "[s]\nhost=localhost\n[s]\nhost=localhost\nsslmode=require\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_SSLROOTCERT", "system")
			writeService(t, c.file)
			t.Setenv("PGSERVICE", "s")
			db, err := sql.Open(c.driver, "port=1 user=app dbname=app")
			if err == nil {
				db.Close()
			}
			var pe *securepg.PolicyError
			if refused := errors.As(err, &pe); refused != c.refused {
				t.Fatalf("refused=%v, want %v: %v", refused, c.refused, err)
			}
		})
	}
}

// TestServiceNameIsEscaped: a service name with control bytes (PGSERVICE,
// and the section that matches it) reaches no error raw: where an error
// names the service file a setting came from, the name is escaped.
func TestServiceNameIsEscaped(t *testing.T) {
	const name = "s\x1b]0;OK: connection verified\a\x1b[31m"
	for _, drv := range []string{securepg.DriverName, libpq.DriverName} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_SSLROOTCERT", "system")
			writeService(t, "["+name+"]\nhost=localhost\nchannel_binding=prefer\nsslmode=require\nconnect_timeout=1\n")
			t.Setenv("PGSERVICE", name)
			db, err := sql.Open(drv, "port=1 user=app dbname=app")
			if err == nil {
				err = db.Ping()
				db.Close()
			}
			if err == nil {
				t.Fatal("connected")
			}
			if strings.ContainsAny(err.Error(), "\x1b\a") {
				t.Fatalf("the error holds the service name's control bytes raw: %q", err.Error())
			}
		})
	}
}
