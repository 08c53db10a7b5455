package securepg_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestPoolerPasswordGrades: SECUREPG_ALLOW_UNVERIFIED_PASSWORD through a
// real PgBouncer whose identity the client does not verify
// (sslmode=require under SECUREPG_MIN_SSLMODE=require), on both drivers.
// With auth_type scram-sha-256 (SCRAM without channel binding: PgBouncer
// offers no SCRAM-SHA-256-PLUS) "false" refuses the login with
// password_unverified_server and "scram" connects and queries; with
// auth_type md5 or plain "scram" refuses and "true" connects. That a
// refusal comes before the driver answers the request (no proof, hash or
// password leaves) is the auth watch's order, shown on the bytes by
// TestAuthWatchGrades and against impostors by TestPasswordProtection;
// PgBouncer's log cannot show it (it logs "login attempt" on the startup
// packet, before authentication).
func TestPoolerPasswordGrades(t *testing.T) {
	l := getLab(t)
	for _, tc := range []struct {
		authType string
		refused  string // the grade that must refuse
		allowed  string // the next grade, which must connect
	}{
		{"scram-sha-256", "false", "scram"},
		{"md5", "scram", "true"},
		{"plain", "scram", "true"},
	} {
		b := startPooler(t, l, pglab.PgBouncerConfig{AuthType: tc.authType})
		for _, drv := range []string{"securepg", "securepg-pq"} {
			t.Run(tc.authType+"/"+drv+"/"+tc.refused, func(t *testing.T) {
				poolerGradeConn(t, drv, b.DSN("sslmode=require"), tc.refused, false)
			})
			t.Run(tc.authType+"/"+drv+"/"+tc.allowed, func(t *testing.T) {
				poolerGradeConn(t, drv, b.DSN("sslmode=require"), tc.allowed, true)
			})
		}
	}
}

// poolerGradeConn opens drv on dsn under the grade (sql.Open reads the
// environment) and either connects and queries through the pooler, or is
// refused for the password, at sql.Open (lib/pq, which cannot bind
// SCRAM to the channel, under "false") or at the first connection.
func poolerGradeConn(t *testing.T, drv, dsn, grade string, connect bool) {
	t.Helper()
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", grade)
	db, err := sql.Open(drv, dsn)
	if !connect && drv == "securepg-pq" && grade == "false" {
		requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
		return
	}
	if err != nil {
		t.Fatalf("sql.Open(%q) under %s: %v", drv, grade, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var one int
	err = db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	if !connect {
		requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
		return
	}
	if err != nil || one != 1 {
		t.Fatalf("%s under %s: SELECT 1 through the pooler: %v %d", drv, grade, err, one)
	}
}
