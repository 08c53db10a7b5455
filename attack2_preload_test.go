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

// TestAttack2SetSessionPreloadLibraries: PostgreSQL 15 lets a superuser
// grant SET on a superuser-only parameter. SET on
// session_preload_libraries lets the role ALTER ROLE itself so that every
// later session of it loads a shared library of its choosing (any path),
// the "loads code" road of ALTER SYSTEM, without ALTER SYSTEM.
func TestAttack2SetSessionPreloadLibraries(t *testing.T) {
	l := getLab(t)
	if l.Major < 15 {
		labtest.Unavailable(t, fmt.Errorf("GRANT SET ON PARAMETER needs PostgreSQL 15 or later; the lab's is %d", l.Major)) // fails under CI=true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := attackRole(t, ctx, l, "securepg_atk2_preload", "", []string{
		"GRANT SET ON PARAMETER session_preload_libraries TO securepg_atk2_preload",
	}, false, "REVOKE SET ON PARAMETER session_preload_libraries FROM securepg_atk2_preload; DROP ROLE IF EXISTS securepg_atk2_preload")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE CURRENT_USER SET session_preload_libraries = 'auto_explain'"); err != nil {
		t.Fatalf("ALTER ROLE SET session_preload_libraries as the granted role: %v", err)
	}
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := conn.QueryRow(ctx, "SHOW auto_explain.log_min_duration").Scan(&v); err != nil {
		t.Fatalf("the library was not loaded: %v", err)
	}
	conn.Exec(ctx, "ALTER ROLE CURRENT_USER RESET session_preload_libraries")
	conn.Close(ctx)
	t.Logf("securepg_atk2_preload made its sessions load a library of its choosing (auto_explain loaded)")
	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			if err == nil {
				t.Fatalf("FINDING: a role granted SET ON PARAMETER session_preload_libraries connects under SECUREPG_FORBID_SUPERUSER")
			}
			requireReason(t, err, securepg.ReasonPrivilegedRole)
		})
	}
}
