package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// privilegeCase is a role and the verdict SECUREPG_FORBID_SUPERUSER
// gives it: the reason ("" connects) and what the refusal must say.
type privilegeCase struct {
	name, user, reason, detail string
}

// privilegeRoles creates, in l's cluster, a login role for each way to
// superuser or the server's operating system, and returns the cases with
// their verdicts on this server's version.
func privilegeRoles(t *testing.T, l *lab) []privilegeCase {
	t.Helper()
	ctx := context.Background()
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	login := func(name, attrs string) string {
		return "CREATE ROLE " + name + " LOGIN " + attrs + " PASSWORD '" + l.Password + "'"
	}
	stmts := []string{
		"CREATE ROLE securepg_lp_top NOLOGIN", "GRANT " + pglab.SuperUser + " TO securepg_lp_top",
		"CREATE ROLE securepg_lp_mid NOLOGIN", "GRANT securepg_lp_top TO securepg_lp_mid",
		login("securepg_lp_chain", ""), "GRANT securepg_lp_mid TO securepg_lp_chain",
		login("securepg_lp_noinherit", "NOINHERIT"), "GRANT " + pglab.SuperUser + " TO securepg_lp_noinherit",
		login("securepg_lp_program", ""), "GRANT pg_execute_server_program TO securepg_lp_program",
		"CREATE ROLE securepg_lp_ops NOLOGIN", "GRANT pg_execute_server_program TO securepg_lp_ops",
		login("securepg_lp_program_chain", ""), "GRANT securepg_lp_ops TO securepg_lp_program_chain",
		login("securepg_lp_read", ""), "GRANT pg_read_server_files TO securepg_lp_read",
		login("securepg_lp_write", ""), "GRANT pg_write_server_files TO securepg_lp_write",
		login("securepg_lp_createrole", "CREATEROLE"),
	}
	roles := []string{"securepg_lp_chain", "securepg_lp_mid", "securepg_lp_top", "securepg_lp_noinherit", "securepg_lp_program",
		"securepg_lp_program_chain", "securepg_lp_ops", "securepg_lp_read", "securepg_lp_write", "securepg_lp_createrole"}
	drop := func() error {
		for _, r := range roles {
			if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+r).ReadAll(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	createRole := privilegeCase{name: "CREATEROLE before 16", user: "securepg_lp_createrole", reason: securepg.ReasonPrivilegedRole, detail: "CREATEROLE on PostgreSQL " + itoa(l.Major)}
	if l.Major >= 16 {
		createRole = privilegeCase{name: "CREATEROLE on 16+", user: "securepg_lp_createrole"}
	}
	return []privilegeCase{
		{name: "superuser", user: pglab.SuperUser, reason: securepg.ReasonSuperuserSession, detail: "is_superuser=on"},
		{name: "member of a superuser through two roles", user: "securepg_lp_chain", reason: securepg.ReasonSuperuserSession, detail: "member of a superuser role"},
		{name: "NOINHERIT member of a superuser", user: "securepg_lp_noinherit", reason: securepg.ReasonSuperuserSession, detail: "SET ROLE"},
		{name: "pg_execute_server_program", user: "securepg_lp_program", reason: securepg.ReasonPrivilegedRole, detail: "TO/FROM PROGRAM"},
		{name: "pg_execute_server_program through a role", user: "securepg_lp_program_chain", reason: securepg.ReasonPrivilegedRole, detail: "pg_execute_server_program"},
		{name: "pg_read_server_files", user: "securepg_lp_read", reason: securepg.ReasonPrivilegedRole, detail: "pg_read_server_files"},
		{name: "pg_write_server_files", user: "securepg_lp_write", reason: securepg.ReasonPrivilegedRole, detail: "pg_write_server_files"},
		createRole,
		{name: "plain role", user: l.User},
	}
}

// privilegePaths are the ways in: each connects with dsn under the policy
// and returns the connect's error.
var privilegePaths = []struct {
	name    string
	connect func(t *testing.T, dsn string) error
}{
	{"pgx database/sql", func(t *testing.T, dsn string) error { return pingSQL(t, dsn, "pgx") }},
	{"lib/pq database/sql", func(t *testing.T, dsn string) error { return pingSQL(t, dsn, "pq") }},
	{"pgx native", func(t *testing.T, dsn string) error {
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}},
	{"listener", func(t *testing.T, dsn string) error {
		cb, next := connectEvents(t)
		lis, err := libpq.NewListener(dsn, 10*time.Millisecond, time.Second, cb,
			securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger()))
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		if err := next(); err != nil {
			return err
		}
		// The session lib/pq was handed works: the role query left
		// nothing behind on it.
		return lis.Listen("securepg_lp")
	}},
}

func pingSQL(t *testing.T, dsn, drv string) error {
	c, err := securepg.NewConnector(dsn, withBackend(drv), securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// TestLeastPrivilege: under SECUREPG_FORBID_SUPERUSER, every way in
// (database/sql on pgx and on lib/pq, pgx native, lib/pq's listener)
// refuses a superuser, a member of one through a chain of roles or
// NOINHERIT, a member of each role that reaches the server's operating
// system, and a CREATEROLE role before PostgreSQL 16, each with its
// reason and why; a plain role, and CREATEROLE on 16 and later, connect.
// PostgreSQL 15 and 18.
func TestLeastPrivilege(t *testing.T) {
	eachServer(t, func(t *testing.T, l *lab) {
		cases := privilegeRoles(t, l)
		for _, tc := range cases {
			dsn := "host=localhost port=" + l.relay.PortString() + " user=" + tc.user + " password=" + l.Password +
				" dbname=" + l.Database + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile
			for _, path := range privilegePaths {
				t.Run(tc.name+"/"+path.name, func(t *testing.T) {
					isolateEnv(t)
					err := path.connect(t, dsn)
					if tc.reason == "" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					requireReason(t, err, tc.reason)
					if !strings.Contains(err.Error(), tc.detail) || !strings.Contains(err.Error(), "SECUREPG_FORBID_SUPERUSER") {
						t.Fatalf("the refusal does not say why (%q): %v", tc.detail, err)
					}
				})
			}
		}
	})
}

// TestExecuteServerProgramIsARoadToTheOS: what TestLeastPrivilege
// refuses is real. Connected without securepg, the role that is a member
// of pg_execute_server_program runs a shell command on the server as the
// server's operating-system user, which a plain role cannot; through
// securepg under the policy, that role gets no session.
func TestExecuteServerProgramIsARoadToTheOS(t *testing.T) {
	l := getLab(t)
	privilegeRoles(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, roleDSN(l, "securepg_lp_program"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, "COPY (SELECT 1) TO PROGRAM 'id'")
	if err != nil || tag.String() != "COPY 1" {
		t.Fatalf("COPY TO PROGRAM as a member of pg_execute_server_program: %v %v", tag, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE os_user (name text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "COPY os_user FROM PROGRAM 'id -un'"); err != nil {
		t.Fatal(err)
	}
	var osUser string
	if err := conn.QueryRow(ctx, "SELECT name FROM os_user").Scan(&osUser); err != nil || osUser == "" {
		t.Fatalf("the server's OS user: %q %v", osUser, err)
	}
	t.Logf("securepg_lp_program ran `id -un` on the server as the OS user %q", osUser)
	if _, err := conn.Exec(ctx, "DROP TABLE os_user"); err != nil {
		t.Fatal(err)
	}

	plain, err := pgx.Connect(ctx, roleDSN(l, l.User))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	if _, err := plain.Exec(ctx, "COPY (SELECT 1) TO PROGRAM 'id'"); err == nil || !strings.Contains(err.Error(), "pg_execute_server_program") {
		t.Fatalf("a plain role ran COPY TO PROGRAM (the test proves nothing): %v", err)
	}

	isolateEnv(t)
	err = pingSQL(t, roleDSN(l, "securepg_lp_program"), "pgx")
	requireReason(t, err, securepg.ReasonPrivilegedRole)
}

// TestLeastPrivilegeThroughPooler: behind PgBouncer the role facts come
// from the query, which the pooler passes to the server: the lab's role
// connects on every way in until it is granted pg_execute_server_program,
// and is refused after.
func TestLeastPrivilegeThroughPooler(t *testing.T) {
	l := getLab(t)
	b := startPooler(t, l, pglab.PgBouncerConfig{})
	ctx := context.Background()
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	dsn := b.DSN("sslmode=verify-full", "sslrootcert="+l.Certs.CAFile)
	run := func(t *testing.T, reason string) {
		t.Helper()
		for _, path := range privilegePaths {
			t.Run(path.name, func(t *testing.T) {
				isolateEnv(t)
				err := path.connect(t, dsn)
				if reason == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				requireReason(t, err, reason)
			})
		}
	}
	t.Run("plain role", func(t *testing.T) { run(t, "") })
	grant := func(stmt string) {
		if _, err := admin.Exec(ctx, stmt).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	grant("GRANT pg_execute_server_program TO " + l.User)
	t.Cleanup(func() { grant("REVOKE pg_execute_server_program FROM " + l.User) })
	t.Run("pg_execute_server_program", func(t *testing.T) { run(t, securepg.ReasonPrivilegedRole) })
}
