package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/securepg/securepg"

	"github.com/securepg/securepg/hooks"
)

// noPassword is the lab DSN for the password role, without its password.
func (l *lab) noPassword(extra ...string) string {
	return strings.Join(append([]string{"host=localhost", "port=" + l.relay.PortString(), "user=" + l.User, "dbname=" + l.Database,
		"sslmode=verify-full", "sslrootcert=" + l.Certs.CAFile}, extra...), " ")
}

func TestProviderSuppliesCredentialsBeforeConnectSees(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			var seen []hooks.Attempt
			c, err := securepg.NewConnector(l.noPassword(), withBackend(drv), securepg.WithLogger(discardLogger()),
				securepg.WithCredentials(hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
					return hooks.Credentials{Password: l.Password}, nil
				})),
				securepg.WithHooks(hooks.Hooks{
					BeforeConnect: func(_ context.Context, a hooks.Attempt) error {
						seen = append(seen, a)
						return nil
					},
				}))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			want := hooks.Attempt{Driver: drv, Host: "localhost", Port: l.relay.Port(), Database: l.Database, User: l.User, SSLMode: "verify-full"}
			if len(seen) != 1 || seen[0] != want {
				t.Fatalf("BeforeConnect saw %+v, want %+v", seen, want)
			}
		})
	}
}

func TestHookErrorsAndPanics(t *testing.T) {
	l := getLab(t)
	sentinel := errors.New("no credentials today")
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name  string
			h     hooks.Hooks
			hook  string
			panic bool
		}{
			{"BeforeConnect error", hooks.Hooks{BeforeConnect: func(context.Context, hooks.Attempt) error { return sentinel }}, "BeforeConnect", false},
			{"BeforeConnect panic", hooks.Hooks{BeforeConnect: func(context.Context, hooks.Attempt) error { panic(sentinel) }}, "BeforeConnect", true},
			{"AfterConnect error", hooks.Hooks{AfterConnect: func(context.Context, hooks.ConnInfo) error { return sentinel }}, "AfterConnect", false},
			{"AfterConnect panic", hooks.Hooks{AfterConnect: func(context.Context, hooks.ConnInfo) error { panic("a string, shown by type only") }}, "AfterConnect", true},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				c, err := securepg.NewConnector(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), withBackend(drv), securepg.WithLogger(discardLogger()),
					securepg.WithHooks(hooks.Hooks{}), securepg.WithHooks(tc.h))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				err = db.Ping()
				var he *hooks.Error
				if !errors.As(err, &he) || he.Hook != tc.hook || he.Index != 1 || he.Panic != tc.panic {
					t.Fatalf("err = %#v (%v)", err, err)
				}
				if !tc.panic || tc.hook == "BeforeConnect" {
					if !errors.Is(err, sentinel) {
						t.Fatalf("errors.Is does not find the hook's error in %v", err)
					}
				} else if strings.Contains(err.Error(), "shown by type only") {
					t.Fatalf("a non-error panic value was printed: %v", err)
				}
				if errors.Is(err, securepg.ErrPolicyViolation) {
					t.Fatal("a hook's rejection is not a policy violation")
				}
			})
		}
	}
}

// TestAfterConnectSeesTLSAndRejectionNeverFallsBack: AfterConnect sees the
// validated TLS facts; its rejection closes the connection, and a
// prefer DSN does not then try plaintext.
func TestAfterConnectSeesTLSAndRejectionNeverFallsBack(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			var info hooks.ConnInfo
			c, err := securepg.NewConnector(l.at(l.relay, "sslmode=prefer", "sslrootcert="+l.Certs.CAFile), withBackend(drv), securepg.WithMinSSLMode("prefer"),
				securepg.WithLogger(discardLogger()), securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
					info = ci
					return errors.New("not on my watch")
				}}))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			before := l.relay.Accepted()
			if err := db.Ping(); err == nil {
				t.Fatal("AfterConnect's rejection was ignored")
			}
			n, err := l.relay.DialsBefore()
			if err != nil {
				t.Fatal(err)
			}
			if n-before != 1 {
				t.Fatalf("%d connections for one rejected attempt: a fallback was tried", n-before)
			}
			if !info.TLS || info.Version != tls.VersionTLS13 || info.CipherSuite == 0 || info.SSLMode != "prefer" ||
				info.Host != "localhost" || info.Port != l.relay.Port() || info.Network != "tcp" || info.Database != l.Database {
				t.Fatalf("ConnInfo %+v", info)
			}
			if drv == "pgx" && (len(info.PeerCertificates) == 0 || info.PeerCertificates[0].Subject.CommonName != l.Certs.Server.Leaf.Subject.CommonName) {
				t.Fatalf("peer certificates %v", info.PeerCertificates)
			}
			if drv == "pq" && (info.ServerSSL == nil || !*info.ServerSSL) {
				t.Fatal("lib/pq: no server view")
			}
		})
	}
}

// TestOneViolationType: the error of a refusal and what OnViolation hears
// are one type (securepg.PolicyError is hooks.Violation) with the same
// fields; an audited one says so in its text.
func TestOneViolationType(t *testing.T) {
	var _ *securepg.PolicyError = (*hooks.Violation)(nil)
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			h, heardAll := violationsHeard()
			c, err := securepg.NewConnector(l.at(l.wrongHost, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
				withBackend(drv), securepg.WithLogger(discardLogger()), h)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			var pe *securepg.PolicyError
			if err := db.Ping(); !errors.As(err, &pe) {
				t.Fatalf("not a refusal: %v", err)
			}
			heard := heardAll()
			if len(heard) != 1 {
				t.Fatalf("OnViolation heard %d violations", len(heard))
			}
			v := heard[0]
			if v.Reason != securepg.ReasonHostnameMismatch || v.Outcome != "refused" || pe.Outcome != "refused" ||
				v.Reason != pe.Reason || v.Host != pe.Host || v.Got != pe.Got || v.Want != pe.Want ||
				v.Detail != pe.Detail || v.Fix != pe.Fix || v.Error() != pe.Error() ||
				!strings.HasPrefix(pe.Error(), "securepg: refused: ") {
				t.Fatalf("the refusal %#v and the violation heard %#v differ", *pe, *v)
			}
			v.Outcome = "audited"
			if !strings.HasPrefix(v.Error(), "securepg: audited: ") || !errors.Is(v, securepg.ErrPolicyViolation) {
				t.Fatalf("audited violation reads %q", v.Error())
			}
		})
	}
}

// TestOnViolationCopies: each hook set hears its own copy; one that
// changes it cannot change what the next hears, nor the refusal returned.
func TestOnViolationCopies(t *testing.T) {
	isolateEnv(t)
	var second *hooks.Violation
	_, err := securepg.NewConnector("host=db.example.com sslmode=prefer", securepg.WithLogger(discardLogger()),
		securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) { v.Reason, v.Host = "forged", "elsewhere" }}),
		securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) { second = v }}))
	var pe *securepg.PolicyError
	if !errors.As(err, &pe) || pe.Reason != securepg.ReasonPlaintextFallback || second == nil ||
		second.Reason != securepg.ReasonPlaintextFallback || second.Host != pe.Host {
		t.Fatalf("refusal %v, second hook heard %+v", err, second)
	}
}

func TestOnViolation(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			var mu sync.Mutex
			var got []string
			h := securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) {
				mu.Lock()
				got = append(got, v.Outcome+":"+v.Reason)
				mu.Unlock()
			}})
			quiet := securepg.WithLogger(discardLogger())
			_, err := securepg.NewConnector(l.at(l.relay, "sslmode=prefer"), withBackend(drv), quiet, h)
			requireReason(t, err, securepg.ReasonPlaintextFallback)
			c, err := securepg.NewConnector(l.at(l.wrongHost, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), withBackend(drv), quiet, h)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			requireReason(t, db.Ping(), securepg.ReasonHostnameMismatch)
			db.Close()
			c, err = securepg.NewConnector(l.at(l.relay, "sslmode=require"), withBackend(drv), quiet, h, securepg.WithMode("audit"),
				securepg.WithHooks(hooks.Hooks{OnViolation: func(context.Context, *hooks.Violation) { panic("alerting is down") }}))
			if err != nil {
				t.Fatal(err)
			}
			db = sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			want := "refused:plaintext_fallback,refused:hostname_mismatch,audited:unverified_certificate"
			if drv == "pq" {
				// lib/pq cannot protect the password under require.
				want += ",audited:password_unverified_server"
			}
			if s := strings.Join(got, ","); s != want {
				t.Fatalf("OnViolation saw %s, want %s", s, want)
			}
		})
	}
}

func TestQueryHooks(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			type seen struct {
				phase, op, sql string
				args           int
				err            bool
			}
			var mu sync.Mutex
			var events []seen
			rec := func(phase string) func(context.Context, *hooks.QueryEvent) {
				return func(_ context.Context, q *hooks.QueryEvent) {
					mu.Lock()
					defer mu.Unlock()
					if phase == "after" && q.Duration <= 0 {
						panic("no duration")
					}
					events = append(events, seen{phase, q.Op, q.SQL, len(q.Args), q.Err != nil})
				}
			}
			type ctxKey struct{}
			var passedOn bool
			logs := &recordHandler{}
			c, err := securepg.NewConnector(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), withBackend(drv),
				securepg.WithLogger(slog.New(logs)),
				securepg.WithHooks(hooks.Hooks{ // observes without arguments
					BeforeQuery: func(ctx context.Context, q *hooks.QueryEvent) context.Context {
						rec("before")(ctx, q)
						return context.WithValue(ctx, ctxKey{}, "x")
					},
					AfterQuery: func(ctx context.Context, q *hooks.QueryEvent) {
						passedOn = passedOn || ctx.Value(ctxKey{}) == "x"
						rec("after")(ctx, q)
					},
				}),
				securepg.WithHooks(hooks.Hooks{QueryArgs: true, AfterQuery: rec("after-args")}),
				securepg.WithHooks(hooks.Hooks{BeforeQuery: func(context.Context, *hooks.QueryEvent) context.Context { panic("observer bug") }}),
			)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			var n int
			if err := db.QueryRow("SELECT $1::int", 7).Scan(&n); err != nil || n != 7 {
				t.Fatalf("the query failed: %d, %v", n, err)
			}
			if _, err := db.Exec("SELECT * FROM no_such_table"); err == nil {
				t.Fatal("want an error")
			}
			mu.Lock()
			defer mu.Unlock()
			want := fmt.Sprint([]seen{
				{"before", "query", "SELECT $1::int", 0, false}, {"after-args", "query", "SELECT $1::int", 1, false}, {"after", "query", "SELECT $1::int", 0, false},
				{"before", "exec", "SELECT * FROM no_such_table", 0, false}, {"after-args", "exec", "SELECT * FROM no_such_table", 0, true}, {"after", "exec", "SELECT * FROM no_such_table", 0, true},
			})
			if got := fmt.Sprint(events); got != want {
				t.Fatalf("events\n got %s\nwant %s", got, want)
			}
			if !passedOn {
				t.Fatal("BeforeQuery's context did not reach AfterQuery")
			}
			var panics int
			for _, r := range logs.all() {
				if strings.Contains(attrs(r)["error"], "BeforeQuery[2] panicked") {
					panics++
				}
			}
			if panics != 2 {
				t.Fatalf("%d logged hook panics, want 2", panics)
			}
		})
	}
}

func TestCredentialsNeverRender(t *testing.T) {
	c := hooks.Credentials{User: "app", Password: "Zq7-creds"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if s := fmt.Sprintf(f, c); strings.Contains(s, "Zq7") || strings.Contains(s, fmt.Sprintf("%x", "Zq7")) {
			t.Errorf("%s shows the password: %s", f, s)
		}
	}
}

// violationsHeard is an option whose OnViolation hook keeps every
// violation, and the function that returns what it kept so far.
func violationsHeard() (securepg.Option, func() []*hooks.Violation) {
	var mu sync.Mutex
	var heard []*hooks.Violation
	return securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) {
			mu.Lock()
			heard = append(heard, v)
			mu.Unlock()
		}}), func() []*hooks.Violation {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(heard)
		}
}
