package securepg_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// labAdmin connects as the superuser postgres over the lab's socket: to
// the postgres database (l.Admin), or, inDB, to the lab's database, the
// one the DSNs name (function privileges and extensions are a
// database's). t fails if it cannot; the caller closes the connection.
func labAdmin(t *testing.T, ctx context.Context, l *lab, inDB bool) *pgconn.PgConn {
	t.Helper()
	c, err := connectAdmin(ctx, l, inDB)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectAdmin is labAdmin's connection, its error returned.
func connectAdmin(ctx context.Context, l *lab, inDB bool) (*pgconn.PgConn, error) {
	if inDB {
		return pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", l.SocketDir, l.Port, l.Database))
	}
	return l.Admin(ctx)
}

// adminExec runs each statement on admin in turn; t fails on the first
// that fails, naming it.
func adminExec(t *testing.T, ctx context.Context, admin *pgconn.PgConn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// cleanupSQL has t's cleanup run sql as postgres, in the lab's database
// (inDB) or in postgres, on a connection of its own; errors are ignored.
func cleanupSQL(t *testing.T, l *lab, inDB bool, sql string) {
	t.Cleanup(func() {
		ctx := context.Background()
		if a, err := connectAdmin(ctx, l, inDB); err == nil {
			a.Exec(ctx, sql).ReadAll()
			a.Close(ctx)
		}
	})
}

// roleDSN is the verify-full DSN of user (with the lab's password) to the
// lab's database, straight to the server.
func roleDSN(l *lab, user string) string {
	return "host=localhost port=" + itoa(l.Port) + " user=" + user + " password=" + l.Password +
		" dbname=" + l.Database + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile
}

// attackRole makes the login role an attack test connects as: as
// postgres it drops a role of that name left by an earlier run, creates
// it (LOGIN, then attrs, with the lab's password), runs grants (in the
// lab's database when inDB, else in postgres) and has t's cleanup run
// cleanup there. It returns the role's verify-full DSN (roleDSN).
func attackRole(t *testing.T, ctx context.Context, l *lab, role, attrs string, grants []string, inDB bool, cleanup string) (dsn string) {
	t.Helper()
	admin := labAdmin(t, ctx, l, false)
	defer admin.Close(ctx)
	if attrs != "" {
		attrs += " "
	}
	adminExec(t, ctx, admin, "DROP ROLE IF EXISTS "+role, "CREATE ROLE "+role+" LOGIN "+attrs+"PASSWORD '"+l.Password+"'")
	if inDB {
		dbAdmin := labAdmin(t, ctx, l, true)
		defer dbAdmin.Close(ctx)
		adminExec(t, ctx, dbAdmin, grants...)
	} else {
		adminExec(t, ctx, admin, grants...)
	}
	cleanupSQL(t, l, inDB, cleanup)
	return roleDSN(l, role)
}
