package securepg_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestAttackAfterConnectRunsBeforeTheSessionIsJudged: a pgx
// configuration's own AfterConnect runs SQL on the new session (set up
// types, SET statements, migrations...). ConfigurePgx judges the session
// (SECUREPG_FORBID_SUPERUSER) first and runs the configuration's
// AfterConnect only on a session the policy accepts. OpenDB hands
// the configuration to pgx's database/sql connector, which ran its
// AfterConnect before securepg judged the session: the hook executed as a
// superuser that the policy then refused.
func TestAttackAfterConnectRunsBeforeTheSessionIsJudged(t *testing.T) {
	l := getLab(t)
	dsn := roleDSN(l, pglab.SuperUser)
	isolateEnv(t)
	opts := []securepg.Option{securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())}
	parse := func(ran *atomic.Value) *pgx.ConnConfig {
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cc.AfterConnect = func(ctx context.Context, c *pgconn.PgConn) error {
			r := c.ExecParams(ctx, "SELECT current_setting('is_superuser')", nil, nil, nil, nil).Read()
			if r.Err == nil && len(r.Rows) == 1 {
				ran.Store(string(r.Rows[0][0]))
			}
			return nil
		}
		return cc
	}
	ping := func(db *sql.DB) error {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return db.PingContext(ctx)
	}
	ways := []struct {
		name    string
		connect func(cc *pgx.ConnConfig) error
	}{
		{"ConfigurePgx", func(cc *pgx.ConnConfig) error {
			if err := securepg.ConfigurePgx(cc, opts...); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := pgx.ConnectConfig(ctx, cc)
			if err == nil {
				c.Close(ctx)
			}
			return err
		}},
		{"OpenDB", func(cc *pgx.ConnConfig) error {
			db, err := securepg.OpenDB(cc, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return ping(db)
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			var ran atomic.Value
			err := w.connect(parse(&ran))
			requireReason(t, err, securepg.ReasonSuperuserSession)
			if v := ran.Load(); v != nil {
				t.Fatalf("FINDING: the configuration's AfterConnect ran SQL on the session (is_superuser=%v) before securepg refused it as a superuser", v)
			}
		})
	}
}

// TestAttackValidateConnectRunsBeforeTheSessionIsJudged: a pgx
// configuration's ValidateConnect (pgconn calls it before pgx's
// AfterConnect, where securepg judges the session) runs on a session that
// SECUREPG_FORBID_SUPERUSER then refuses, on every pgx way in.
func TestAttackValidateConnectRunsBeforeTheSessionIsJudged(t *testing.T) {
	l := getLab(t)
	dsn := roleDSN(l, pglab.SuperUser)
	isolateEnv(t)
	opts := []securepg.Option{securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())}
	for _, way := range []string{"ConfigurePgx", "OpenDB"} {
		t.Run(way, func(t *testing.T) {
			var ran atomic.Value
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			cc.ValidateConnect = func(ctx context.Context, c *pgconn.PgConn) error {
				r := c.ExecParams(ctx, "SELECT current_setting('is_superuser')", nil, nil, nil, nil).Read()
				if r.Err == nil && len(r.Rows) == 1 {
					ran.Store(string(r.Rows[0][0]))
				}
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if way == "ConfigurePgx" {
				if err := securepg.ConfigurePgx(cc, opts...); err != nil {
					t.Fatal(err)
				}
				c, cerr := pgx.ConnectConfig(ctx, cc)
				if cerr == nil {
					c.Close(ctx)
				}
				err = cerr
			} else {
				db, oerr := securepg.OpenDB(cc, opts...)
				if oerr != nil {
					t.Fatal(oerr)
				}
				err = db.PingContext(ctx)
				db.Close()
			}
			requireReason(t, err, securepg.ReasonSuperuserSession)
			if v := ran.Load(); v != nil {
				t.Fatalf("FINDING: the configuration's ValidateConnect ran SQL on the session (is_superuser=%v) before securepg refused it", v)
			}
		})
	}
}

// TestSessionStageBeforeTargetSessionAttrs: target_session_attrs's own
// check (pgx's ValidateConnect) runs after the session stage; a
// superuser on every host of a list is refused with the policy's reason
// on both pgx ways, after each host was tried, and a plain role connects.
func TestSessionStageBeforeTargetSessionAttrs(t *testing.T) {
	l := getLab(t)
	port := itoa(l.Port)
	dsn := func(user string) string {
		return "host=localhost,localhost port=" + port + "," + port + " user=" + user + " password=" + l.Password +
			" dbname=" + l.Database + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile + " target_session_attrs=read-write"
	}
	isolateEnv(t)
	opts := []securepg.Option{securepg.WithForbidSuperuser(true), securepg.WithLogger(discardLogger())}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		user   string
		reason string
	}{{pglab.SuperUser, securepg.ReasonSuperuserSession}, {l.User, ""}} {
		cc, err := pgx.ParseConfig(dsn(tc.user))
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, opts...); err != nil {
			t.Fatal(err)
		}
		c, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			c.Close(ctx)
		}
		cc2, _ := pgx.ParseConfig(dsn(tc.user))
		db, oerr := securepg.OpenDB(cc2, opts...)
		if oerr != nil {
			t.Fatal(oerr)
		}
		err2 := db.PingContext(ctx)
		db.Close()
		for _, e := range []error{err, err2} {
			if tc.reason == "" {
				if e != nil {
					t.Fatalf("%s: %v", tc.user, e)
				}
				continue
			}
			requireReason(t, e, tc.reason)
		}
	}
}
