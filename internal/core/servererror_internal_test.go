package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// TestHostileServerError: a startup ErrorResponse whose text could drive
// a terminal becomes an error whose text is escaped and which unwraps to
// the driver's own value with the raw fields; a plain one is left to the
// driver.
func TestHostileServerError(t *testing.T) {
	evil := "\x1b[2J\x1b[HOK: connection verified"
	body := []byte("SFATAL\x00VFATAL\x00C28000\x00M" + evil + "\x00Dd\u202e\x00\x00")
	pqError := func(f map[byte]string) error {
		return &pq.Error{Severity: f['S'], Code: pqerror.Code(f['C']), Message: f['M'], Detail: f['D']}
	}
	for _, driver := range []string{DriverPgx, DriverPQ} {
		var build func(map[byte]string) error // pgx's
		if driver == DriverPQ {
			build = pqError // lib/pq's, as package pqconn gives it
		}
		err := hostileServerError(build, body)
		if err == nil || strings.ContainsAny(err.Error(), "\x1b\u202e") || !strings.Contains(err.Error(), `\x1b[2J`) {
			t.Fatalf("%s: %v", driver, err)
		}
		var pgErr *pgconn.PgError
		var pqErr *pq.Error
		switch {
		case driver == DriverPgx && (!errors.As(err, &pgErr) || pgErr.Message != evil || pgErr.Code != "28000" || pgErr.Detail != "d\u202e"):
			t.Fatalf("pgx: %#v", pgErr)
		case driver == DriverPQ && (!errors.As(err, &pqErr) || pqErr.Message != evil || pqErr.Code != "28000" || pqErr.Severity != "FATAL"):
			t.Fatalf("pq: %#v", pqErr)
		}
	}
	if err := hostileServerError(nil, []byte("SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")); err != nil {
		t.Fatalf("a plain error: %v", err)
	}
	if err := hostileServerError(nil, []byte("SFATAL\x00M\x1bunterminated")); err != nil {
		t.Fatalf("a malformed body: %v", err)
	}
}
