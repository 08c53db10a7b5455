package securepg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg"
)

// TestAttack2PrivilegeThroughNoInheritMembership: has_function_privilege
// and rolreplication follow only the privileges a role inherits, but a
// NOINHERIT member of a role can SET ROLE to it and use its grants and
// attributes. A NOINHERIT role, member of a role granted EXECUTE on
// pg_read_binary_file (or of a REPLICATION role), reads the server's
// files (or decodes every change through a logical slot) after SET ROLE,
// and SECUREPG_FORBID_SUPERUSER let it connect.
func TestAttack2PrivilegeThroughNoInheritMembership(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dbAdmin := labAdmin(t, ctx, l, true)
	defer dbAdmin.Close(ctx)
	cleanup := "REVOKE ALL ON FUNCTION pg_catalog.pg_read_binary_file(text) FROM securepg_atk2_filer; " +
		"DROP ROLE IF EXISTS securepg_atk2_app; DROP ROLE IF EXISTS securepg_atk2_app2; DROP ROLE IF EXISTS securepg_atk2_filer; DROP ROLE IF EXISTS securepg_atk2_repl"
	dbAdmin.Exec(ctx, cleanup).ReadAll()
	adminExec(t, ctx, dbAdmin,
		"CREATE ROLE securepg_atk2_filer NOLOGIN",
		"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO securepg_atk2_filer",
		"CREATE ROLE securepg_atk2_repl NOLOGIN REPLICATION",
		"CREATE ROLE securepg_atk2_app LOGIN NOINHERIT PASSWORD '"+l.Password+"'",
		"GRANT securepg_atk2_filer TO securepg_atk2_app",
		"CREATE ROLE securepg_atk2_app2 LOGIN NOINHERIT PASSWORD '"+l.Password+"'",
		"GRANT securepg_atk2_repl TO securepg_atk2_app2",
	)
	cleanupSQL(t, l, true, cleanup)
	// The road is real: SET ROLE, then the server's files.
	conn, err := pgx.Connect(ctx, roleDSN(l, "securepg_atk2_app"))
	if err != nil {
		t.Fatal(err)
	}
	var conf []byte
	if _, err := conn.Exec(ctx, "SET ROLE securepg_atk2_filer"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_read_binary_file('postgresql.auto.conf')").Scan(&conf); err != nil {
		t.Fatalf("pg_read_binary_file after SET ROLE: %v", err)
	}
	conn.Close(ctx)
	for _, user := range []string{"securepg_atk2_app", "securepg_atk2_app2"} {
		for _, p := range privilegePaths {
			t.Run(user+"/"+p.name, func(t *testing.T) {
				isolateEnv(t)
				err := p.connect(t, roleDSN(l, user))
				if err == nil {
					t.Fatalf("FINDING: %s, a NOINHERIT member of a role with a road to the OS, connects under SECUREPG_FORBID_SUPERUSER", user)
				}
				requireReason(t, err, securepg.ReasonPrivilegedRole)
			})
		}
	}
}
