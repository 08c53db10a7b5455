package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/securepg/securepg"

	"go.opentelemetry.io/otel/attribute"

	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
)

// TestCredentialsFollowTheHost: with a multi-host DSN, credentials are
// resolved for each host with that host's name, and a host only ever
// receives its own. The first host here is a fake server that takes a
// cleartext password and fails the session (so both drivers go on to the
// next host); the second is the real server, where only the second
// host's password is valid.
func TestCredentialsFollowTheHost(t *testing.T) {
	l := getLab(t)
	newRole(t, l, "hostcreds", "Zq7-for-127.0.0.1")
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			fake := fakeFirstHost(t)
			var mu sync.Mutex
			var asked []string
			provider := hooks.CredentialFunc(func(_ context.Context, a hooks.Attempt) (hooks.Credentials, error) {
				mu.Lock()
				asked = append(asked, a.Host)
				mu.Unlock()
				return hooks.Credentials{Password: "Zq7-for-" + a.Host}, nil
			})
			var info hooks.ConnInfo
			c, err := connectorFor(drv, "host=localhost,127.0.0.1 port="+fake.PortString()+","+l.relay.PortString()+
				" user=hostcreds dbname="+l.Database+" sslmode=disable", securepg.WithCredentials(provider), securepg.WithLogger(discardLogger()),
				securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; return nil }}))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatalf("the second host with its own credentials: %v", err)
			}
			if info.Host != "127.0.0.1" {
				t.Fatalf("connected to %q", info.Host)
			}
			db.Close()
			fake.Close()
			got := fake.Received()
			if len(got) != 1 || !bytes.Contains(got[0], []byte("Zq7-for-localhost")) {
				t.Fatalf("the first host received %q, want its own password", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(asked, []string{"localhost", "127.0.0.1"}) {
				t.Fatalf("provider asked for %v", asked)
			}
		})
	}
}

// TestRefusedAttemptsAreReported: an impostor at the first host is
// refused and the connection is made to the second; the refusal is still
// reported: OnViolation, an error-level log line, the violation counter
// and an event on the connect span, whose outcome is allowed.
func TestRefusedAttemptsAreReported(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name   string
			peer   *pglab.Proxy
			reason string
		}{
			{"self-signed impostor", l.selfSigned, securepg.ReasonCertificateUntrusted},
			{"wrong-host impostor", l.wrongHost, securepg.ReasonHostnameMismatch},
			{"stripping proxy", l.strip, securepg.ReasonTLSNotEstablished},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				sdk := newSDK(t)
				logs := &recordHandler{}
				var mu sync.Mutex
				var seen []*hooks.Violation
				dsn := "host=localhost,localhost port=" + tc.peer.PortString() + "," + l.relay.PortString() + " " + l.auth() +
					" sslmode=verify-full sslrootcert=" + l.Certs.CAFile
				c, err := connectorFor(drv, dsn, append(sdk.opts, securepg.WithLogger(slog.New(logs)),
					securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) {
						mu.Lock()
						seen = append(seen, v)
						mu.Unlock()
					}}))...)
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				if err := db.Ping(); err != nil {
					t.Fatalf("the second host: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(seen) != 1 || seen[0].Reason != tc.reason || seen[0].Outcome != "refused" ||
					!strings.HasSuffix(seen[0].Host, ":"+tc.peer.PortString()) {
					t.Fatalf("OnViolation heard %+v", seen)
				}
				if !strings.Contains(logs.text(), tc.reason) {
					t.Fatalf("no log line for the refused attempt: %s", logs.text())
				}
				if n := sumInt(t, sdk.metrics(t)["securepg.policy.violations"], map[string]string{
					"securepg.policy.reason": tc.reason, "securepg.policy.outcome": "refused"}); n != 1 {
					t.Fatalf("violations counter = %d", n)
				}
				spans := sdk.ended("securepg.connect")
				if len(spans) != 1 {
					t.Fatalf("%d connect spans", len(spans))
				}
				a := spanAttrs(spans[0])
				if a["securepg.policy.outcome"].AsString() != "allowed" || a["securepg.policy.refused_attempts"] != attribute.IntValue(1) {
					t.Fatalf("span attributes %v", a)
				}
				if ev := spans[0].Events(); len(ev) != 1 || ev[0].Name != "securepg.attempt.refused" {
					t.Fatalf("span events %v", ev)
				}
			})
		}
	}
}

// TestPassfileFollowsTheHost: with a multi-host DSN and the password in a
// passfile, each host gets its own entry, as in libpq (pgx alone would
// send the first host's entry to every host).
func TestPassfileFollowsTheHost(t *testing.T) {
	l := getLab(t)
	newRole(t, l, "passfilehost", "Zq7-pass-127.0.0.1")
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			fake := fakeFirstHost(t)
			pf := filepath.Join(t.TempDir(), "pgpass")
			if err := os.WriteFile(pf, []byte("localhost:*:*:passfilehost:Zq7-pass-localhost\n127.0.0.1:*:*:passfilehost:Zq7-pass-127.0.0.1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PGPASSFILE", pf)
			db, err := sql.Open(driverName(drv), "host=localhost,127.0.0.1 port="+fake.PortString()+","+l.relay.PortString()+
				" user=passfilehost dbname="+l.Database+" sslmode=disable")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatalf("the second host with its own passfile entry: %v", err)
			}
			db.Close()
			fake.Close()
			for _, m := range fake.Received() {
				if bytes.Contains(m, []byte("Zq7-pass-127.0.0.1")) {
					t.Fatal("the first host received the second host's password")
				}
			}
		})
	}
}

// TestCredentialsFollowAddressOnlyHosts: hosts named by hostaddr alone are
// different servers too: each is asked for its own credentials.
func TestCredentialsFollowAddressOnlyHosts(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true") // lib/pq under require: see TestPasswordProtection
	var mu sync.Mutex
	var asked []string
	provider := hooks.CredentialFunc(func(_ context.Context, a hooks.Attempt) (hooks.Credentials, error) {
		mu.Lock()
		asked = append(asked, a.Host)
		mu.Unlock()
		if a.Host == "127.0.0.1" {
			return hooks.Credentials{User: l.User, Password: l.Password}, nil
		}
		return hooks.Credentials{User: l.User, Password: "Zq7-for-" + a.Host}, nil
	})
	// Nothing listens on 127.0.0.2 at the relay's port; 127.0.0.1 is the server.
	c, err := connectorFor("pq", "hostaddr=127.0.0.2,127.0.0.1 port="+l.relay.PortString()+" user="+l.User+" dbname="+l.Database+
		" sslmode=require", securepg.WithCredentials(provider), securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("the second address with its own credentials: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(asked, []string{"127.0.0.2", "127.0.0.1"}) {
		t.Fatalf("provider asked for %v", asked)
	}
}

// fakeFirstHost isolates t's environment, lowers the minimum sslmode to
// disable, and starts the first host of a multi-host test: a fake server
// that takes a cleartext password and fails the session with 53300 (so
// both drivers go on to the next host), closed with t.
func fakeFirstHost(t *testing.T) *pglab.Proxy {
	t.Helper()
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "disable")
	fake, err := pglab.NewCleartextServerCode("53300")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	return fake
}
