package securepg_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab/labtest"
)

// TestAttackGrantedServerFileFunctions: SECUREPG_FORBID_SUPERUSER refuses
// the members of pg_read_server_files and pg_write_server_files because
// they read and write the server's files, but the same power can be
// granted function by function (GRANT EXECUTE ON FUNCTION lo_export,
// pg_read_binary_file: PostgreSQL 11 dropped their superuser checks in
// favour of GRANT). A role granted lo_export writes any file the server's
// operating-system user can, and securepg lets it connect on every way in.
func TestAttackGrantedServerFileFunctions(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Function privileges are the database's: grant them in the one the
	// DSN names.
	dsn := attackRole(t, ctx, l, "securepg_atk_loexport", "", []string{
		"GRANT EXECUTE ON FUNCTION pg_catalog.lo_export(oid, text) TO securepg_atk_loexport",
		"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO securepg_atk_loexport",
	}, true, "REASSIGN OWNED BY securepg_atk_loexport TO CURRENT_USER; DROP OWNED BY securepg_atk_loexport; DROP ROLE IF EXISTS securepg_atk_loexport")

	// The road is real: without securepg the role writes a file of its
	// choosing as the server's OS user, and reads the server's key.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	path := "/tmp/securepg_attack_lo_export"
	t.Cleanup(func() { os.Remove(path) })
	var lo uint32
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.lo_from_bytea(0, 'written by a non-superuser')").Scan(&lo); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.lo_export($1, '"+path+"')", lo); err != nil {
		t.Fatalf("lo_export as the granted role: %v", err)
	}
	var key []byte
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_read_binary_file('postgresql.auto.conf')").Scan(&key); err != nil {
		t.Fatalf("pg_read_binary_file as the granted role: %v", err)
	}
	conn.Close(ctx)
	t.Logf("securepg_atk_loexport wrote %s on the server and read its postgresql.auto.conf (%d bytes)", path, len(key))

	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			if err == nil {
				t.Fatalf("FINDING: a role granted lo_export / pg_read_binary_file (the powers of pg_write_server_files / pg_read_server_files) connects under SECUREPG_FORBID_SUPERUSER")
			}
			requireReason(t, err, securepg.ReasonPrivilegedRole)
			if !strings.Contains(err.Error(), "lo_export") {
				t.Fatalf("the refusal does not name lo_export: %v", err)
			}
		})
	}
}

// TestGrantedDirectoryListingRefused: pg_ls_dir and pg_stat_file take
// any path the server's operating-system user can reach; granted to a
// plain role they map the server's files (its keys, its configuration),
// the first step on the road the pg_*_server_files roles open. Under
// SECUREPG_FORBID_SUPERUSER such a role is refused on every way in.
func TestGrantedDirectoryListingRefused(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := attackRole(t, ctx, l, "securepg_atk_lsdir", "", []string{
		"GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO securepg_atk_lsdir",
		"GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text) TO securepg_atk_lsdir",
	}, true, "REASSIGN OWNED BY securepg_atk_lsdir TO CURRENT_USER; DROP OWNED BY securepg_atk_lsdir; DROP ROLE IF EXISTS securepg_atk_lsdir")

	// The road is real: without securepg the role lists the data directory.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := conn.QueryRow(ctx, "SELECT 'postgresql.auto.conf' IN (SELECT pg_catalog.pg_ls_dir('.'))").Scan(&found); err != nil || !found {
		t.Fatalf("pg_ls_dir as the granted role: %v (found postgresql.auto.conf: %v)", err, found)
	}
	conn.Close(ctx)

	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			requireReason(t, err, securepg.ReasonPrivilegedRole)
			if !strings.Contains(err.Error(), "pg_ls_dir") || !strings.Contains(err.Error(), "pg_stat_file") {
				t.Fatalf("the refusal does not name pg_ls_dir and pg_stat_file: %v", err)
			}
		})
	}
}

// TestAttackAlterSystemGrant: PostgreSQL 15 lets a superuser grant ALTER
// SYSTEM on one parameter to a plain role. archive_command (or
// ssl_passphrase_command, restore_command...) is a shell command the
// server runs as its operating-system user, so such a role has a road to
// the server's OS as a member of pg_execute_server_program has; securepg
// lets it connect under SECUREPG_FORBID_SUPERUSER.
func TestAttackAlterSystemGrant(t *testing.T) {
	l := getLab(t)
	if l.Major < 15 {
		labtest.Unavailable(t, fmt.Errorf("GRANT ALTER SYSTEM ON PARAMETER needs PostgreSQL 15 or later; the lab's is %d", l.Major)) // fails under CI=true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := attackRole(t, ctx, l, "securepg_atk_altersys", "", []string{
		"GRANT ALTER SYSTEM ON PARAMETER archive_command TO securepg_atk_altersys",
	}, false, "ALTER SYSTEM RESET archive_command; REVOKE ALTER SYSTEM ON PARAMETER archive_command FROM securepg_atk_altersys; DROP ROLE IF EXISTS securepg_atk_altersys")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET archive_command = 'id > /dev/null'"); err != nil {
		t.Fatalf("ALTER SYSTEM as the granted role: %v", err)
	}
	if _, err := conn.Exec(ctx, "ALTER SYSTEM RESET archive_command"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Logf("securepg_atk_altersys set the server's archive_command (a shell command) without being a superuser")
	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			if err == nil {
				t.Fatalf("FINDING: a role granted ALTER SYSTEM ON PARAMETER archive_command connects under SECUREPG_FORBID_SUPERUSER")
			}
			requireReason(t, err, securepg.ReasonPrivilegedRole)
		})
	}
}

// TestReplicationRoleRefused: a role with REPLICATION can take a base
// backup, every file of the cluster with pg_authid's password hashes:
// SECUREPG_FORBID_SUPERUSER refuses it on every way in, naming it.
func TestReplicationRoleRefused(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := attackRole(t, ctx, l, "securepg_replication", "REPLICATION", nil, false, "DROP ROLE IF EXISTS securepg_replication")
	for _, p := range privilegePaths {
		t.Run(p.name, func(t *testing.T) {
			isolateEnv(t)
			err := p.connect(t, dsn)
			requireReason(t, err, securepg.ReasonPrivilegedRole)
			if !strings.Contains(err.Error(), "REPLICATION") {
				t.Fatalf("the refusal does not name REPLICATION: %v", err)
			}
		})
	}
}
