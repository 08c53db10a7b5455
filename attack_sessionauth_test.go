package securepg_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestAttackSessionAuthorizationAtStartup: SECUREPG_FORBID_SUPERUSER
// reads is_superuser at startup and asks about session_user. A superuser
// login whose startup options set session_authorization to a plain role
// would start with is_superuser=off and session_user the plain role, and
// could RESET SESSION AUTHORIZATION back to the superuser it
// authenticated as. It holds: PostgreSQL 15 ignores the startup setting
// (no transaction to look the role up), and securepg refuses the login.
func TestAttackSessionAuthorizationAtStartup(t *testing.T) {
	l := getLab(t)
	dsn := roleDSN(l, pglab.SuperUser) + " options='-c session_authorization=" + l.User + "'"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The road, without securepg.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// The server itself refuses the startup setting: there is no road
		// to take on it. That must be the server's refusal, nothing else.
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("connecting without securepg: %v", err)
		}
		t.Logf("the server refuses session_authorization at startup (SQLSTATE %s): no road here", pe.Code)
		return
	}
	var before, after string
	conn.QueryRow(ctx, "SELECT current_setting('is_superuser') || ' ' || session_user").Scan(&before)
	if _, err := conn.Exec(ctx, "RESET SESSION AUTHORIZATION"); err != nil {
		t.Fatal(err)
	}
	conn.QueryRow(ctx, "SELECT current_setting('is_superuser') || ' ' || session_user").Scan(&after)
	conn.Close(ctx)
	t.Logf("at startup: %s; after RESET SESSION AUTHORIZATION: %s", before, after)
	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			if err == nil {
				t.Fatalf("FINDING: a superuser login with session_authorization set at startup connects under SECUREPG_FORBID_SUPERUSER")
			}
			requireReason(t, err, securepg.ReasonSuperuserSession)
		})
	}
}
