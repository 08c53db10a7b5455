package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/sqlmocktest"
)

// TestForbidSuperuser: under SECUREPG_FORBID_SUPERUSER a session whose
// role is a superuser is refused (superuser_session) from what the server
// reports at startup, with no extra round trip, and a plain role connects;
// audit mode reports and connects; without the policy the flag is still
// visible to AfterConnect hooks and on the connect span. Both backends,
// on the real server.
func TestForbidSuperuser(t *testing.T) {
	l := getLab(t)
	dsn := func(user string) string {
		return "host=localhost port=" + l.relay.PortString() + " user=" + user + " password=" + l.Password +
			" dbname=" + l.Database + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, user, mode string
			forbid           bool
			refused          bool
			wantSuper        bool
		}{
			{name: "superuser refused", user: pglab.SuperUser, forbid: true, refused: true},
			{name: "plain role", user: l.User, forbid: true},
			{name: "audit", user: pglab.SuperUser, forbid: true, mode: "audit", wantSuper: true},
			{name: "no policy", user: pglab.SuperUser, wantSuper: true},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				if tc.forbid {
					t.Setenv("SECUREPG_FORBID_SUPERUSER", "true")
				}
				if tc.mode != "" {
					t.Setenv("SECUREPG_MODE", tc.mode)
				}
				s := newSDK(t)
				heard := &violations{}
				var info *hooks.ConnInfo
				c, err := securepg.NewConnector(dsn(tc.user), append(s.opts, withBackend(drv), heard.option(),
					securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
						info = &ci
						return nil
					}}))...)
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				err = db.Ping()
				if tc.refused {
					requireReason(t, err, securepg.ReasonSuperuserSession)
					if heard.String() != "refused:"+securepg.ReasonSuperuserSession {
						t.Fatalf("violations heard %s, want one refusal", heard)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if info == nil || info.Superuser != tc.wantSuper {
					t.Fatalf("ConnInfo %+v, want Superuser=%v", info, tc.wantSuper)
				}
				if tc.mode == "audit" && heard.String() != "audited:"+securepg.ReasonSuperuserSession {
					t.Fatalf("violations heard %s, want one audited superuser_session", heard)
				}
				spans := s.ended("securepg.connect")
				if len(spans) == 0 {
					t.Fatal("no connect span")
				}
				wantAttrs(t, spanAttrs(spans[len(spans)-1]), map[string]any{"securepg.session.superuser": tc.wantSuper})
			})
		}
	}
}

// TestForbidSuperuserWithSqlmock: the policy judges a simulated session
// like a live one.
func TestForbidSuperuserWithSqlmock(t *testing.T) {
	isolateEnv(t)
	t.Setenv("SECUREPG_FORBID_SUPERUSER", "true")
	db, _, err := sqlmocktest.New(t, "host=db.internal sslmode=verify-full", sqlmocktest.WithSuperuser(true))
	if err != nil {
		t.Fatal(err)
	}
	requireReason(t, db.Ping(), securepg.ReasonSuperuserSession)
	db, mock, err := sqlmocktest.New(t, "host=db.internal sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	mock.ExpectPing()
	if err := db.Ping(); err != nil {
		t.Fatalf("a simulated plain role: %v", err)
	}
}

// TestForbidSuperuserByMembership: a role that is not a superuser itself
// but a member of one can SET ROLE to it at any time; under the policy it
// is refused too (one query after the startup, only under the policy),
// on both backends.
func TestForbidSuperuserByMembership(t *testing.T) {
	l := getLab(t)
	ctx := context.Background()
	admin, err := l.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, stmt := range []string{
		"DROP ROLE IF EXISTS securepg_member",
		"CREATE ROLE securepg_member LOGIN NOSUPERUSER PASSWORD '" + l.Password + "'",
		"GRANT " + pglab.SuperUser + " TO securepg_member",
	} {
		if _, err := admin.Exec(ctx, stmt).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_FORBID_SUPERUSER", "true")
			db, err := sql.Open("securepg", "host=localhost port="+l.relay.PortString()+" user=securepg_member password="+l.Password+
				" dbname="+l.Database+" sslmode=verify-full sslrootcert="+l.Certs.CAFile+" ")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxIdleConns(0)
			err = db.Ping()
			requireReason(t, err, securepg.ReasonSuperuserSession)
			if !strings.Contains(err.Error(), "SET ROLE") {
				t.Fatalf("the refusal does not say why: %v", err)
			}
		})
	}
}
