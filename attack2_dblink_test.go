package securepg_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab/labtest"
)

// TestAttack2DblinkConnectU: dblink_connect_u, which dblink revokes from
// PUBLIC, connects without the password check dblink_connect makes: a
// role granted EXECUTE on it connects back to the server as any role
// the server's own OS user may log in as (peer or trust on its socket:
// postgres), a superuser, and runs COPY ... TO PROGRAM there. It is in the
// same class as lo_export, and SECUREPG_FORBID_SUPERUSER let it connect.
func TestAttack2DblinkConnectU(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbAdmin := labAdmin(t, ctx, l, true)
	defer dbAdmin.Close(ctx)
	if _, err := dbAdmin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS dblink").ReadAll(); err != nil {
		labtest.Unavailable(t, fmt.Errorf("the dblink extension (PostgreSQL's contrib): %w", err)) // fails under CI=true
	}
	cleanup := "DROP OWNED BY securepg_atk2_dblink; DROP ROLE IF EXISTS securepg_atk2_dblink"
	dbAdmin.Exec(ctx, cleanup).ReadAll()
	adminExec(t, ctx, dbAdmin,
		"CREATE ROLE securepg_atk2_dblink LOGIN PASSWORD '"+l.Password+"'",
		"GRANT EXECUTE ON FUNCTION dblink_connect_u(text, text) TO securepg_atk2_dblink",
	)
	cleanupSQL(t, l, true, cleanup+"; DROP EXTENSION IF EXISTS dblink")
	dsn := roleDSN(l, "securepg_atk2_dblink")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	back := fmt.Sprintf("host=%s port=%d user=postgres dbname=%s", l.SocketDir, l.Port, l.Database)
	if _, err := conn.Exec(ctx, "SELECT dblink_connect_u('c', $1)", back); err != nil {
		t.Fatalf("dblink_connect_u as the granted role: %v", err)
	}
	var super bool
	if err := conn.QueryRow(ctx, "SELECT s FROM dblink('c', 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user') AS t(s bool)").Scan(&super); err != nil || !super {
		t.Fatalf("not a superuser through dblink: %v %v", super, err)
	}
	conn.Close(ctx)
	t.Logf("securepg_atk2_dblink ran SQL as the superuser postgres through dblink_connect_u")
	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			if err == nil {
				t.Fatalf("FINDING: a role granted EXECUTE on dblink_connect_u connects under SECUREPG_FORBID_SUPERUSER")
			}
			requireReason(t, err, securepg.ReasonPrivilegedRole)
		})
	}
}
