package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/libpq"
)

// The password protection: under a policy that requires TLS, a password
// goes to a server whose identity is not verified (sslmode=require) only
// through SCRAM with channel binding. Each impostor below presents a
// self-signed certificate, which sslmode=require accepts, and then tries
// to collect the password or a session.

var authTraps = []struct {
	name string
	trap pglab.AuthTrap
}{
	{"cleartext password", pglab.AskCleartext},
	{"MD5 response", pglab.AskMD5},
	{"AuthenticationOk without a login", pglab.SkipAuth},
	{"SCRAM relay to the real server", pglab.RelaySCRAM},
}

// violations collects what OnViolation saw, as outcome:reason.
type violations struct {
	mu     sync.Mutex
	got    []string // outcome:reason
	detail []string
	hosts  []string
}

func (v *violations) details() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.detail, " | ")
}

func (v *violations) option() securepg.Option {
	return securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, hv *hooks.Violation) {
		v.mu.Lock()
		v.got = append(v.got, hv.Outcome+":"+hv.Reason)
		v.detail = append(v.detail, hv.Detail)
		v.hosts = append(v.hosts, hv.Host)
		v.mu.Unlock()
	}})
}

func (v *violations) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.got, ",")
}

// harvested reports what an impostor collected: the password itself, any
// answer to its request for one, a session.
func harvested(imp *pglab.Proxy, password string) []string {
	var out []string
	for _, m := range imp.Received() {
		switch {
		case bytes.Contains(m, []byte(password)):
			out = append(out, "the password")
		case len(m) > 0 && m[0] == 'p':
			out = append(out, "an answer to its request ("+string(m[5:min(len(m), 8)])+"...)")
		}
	}
	if n := imp.Sessions(); n > 0 {
		out = append(out, "a session")
	}
	return out
}

func TestPasswordProtection(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, tr := range authTraps {
			run := func(t *testing.T, mode string, optOut bool) (*pglab.Proxy, *violations, error, error) {
				t.Helper()
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "require")
				t.Setenv("SECUREPG_MODE", mode)
				if optOut {
					t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
				}
				imp, err := pglab.NewAuthImpostor(tr.trap, l.Addr(), l.Certs.SelfSigned.TLS)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { imp.Close() })
				seen := &violations{}
				c, openErr := connectorFor(drv, l.at(imp, "sslmode=require"), seen.option(), securepg.WithLogger(discardLogger()))
				if openErr != nil {
					return imp, seen, openErr, nil
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				pingErr := db.PingContext(ctx)
				db.Close()
				imp.Close() // waits for the impostor's connections: what it recorded is final
				return imp, seen, nil, pingErr
			}

			t.Run(drv+"/"+tr.name+"/enforce", func(t *testing.T) {
				imp, seen, openErr, pingErr := run(t, "enforce", false)
				if drv == "pq" {
					// lib/pq cannot bind: refused before anything is dialed.
					requireReason(t, openErr, securepg.ReasonPasswordUnverifiedServer)
					if n := imp.Accepted(); n != 0 {
						t.Fatalf("refused at sql.Open, but the impostor accepted %d connection(s)", n)
					}
					return
				}
				if openErr != nil {
					t.Fatal(openErr)
				}
				requireReason(t, pingErr, securepg.ReasonPasswordUnverifiedServer)
				if got := harvested(imp, l.Password); len(got) > 0 {
					t.Fatalf("the impostor got %s", strings.Join(got, ", "))
				}
				for _, m := range imp.Received() {
					// A Terminate message may follow the refusal; nothing else.
					if tr.trap != pglab.RelaySCRAM && (len(m) == 0 || m[0] != 'X') {
						t.Fatalf("the impostor heard %q after its request", imp.Received())
					}
				}
				if s := seen.String(); s != "refused:password_unverified_server" {
					t.Fatalf("OnViolation saw %q", s)
				}
				if strings.Contains(pingErr.Error(), l.Password) {
					t.Fatal("the error shows the password")
				}
			})

			t.Run(drv+"/"+tr.name+"/audit", func(t *testing.T) {
				_, seen, openErr, _ := run(t, "audit", false)
				if openErr != nil {
					t.Fatal(openErr)
				}
				// Reported, whether or not the impostor then let the
				// connection through.
				if s := seen.String(); !strings.Contains(s, "audited:password_unverified_server") {
					t.Fatalf("OnViolation saw %q, want audited:password_unverified_server", s)
				}
			})

			// The control: without the protection, each impostor gets
			// what it came for. Proves the traps are real.
			t.Run(drv+"/"+tr.name+"/opt-out", func(t *testing.T) {
				imp, _, openErr, _ := run(t, "enforce", true)
				if openErr != nil {
					t.Fatal(openErr)
				}
				got := harvested(imp, l.Password)
				if len(got) == 0 {
					t.Fatalf("with the protection off, the impostor got nothing: the trap does not work (received %q)", imp.Received())
				}
				switch tr.trap {
				case pglab.AskCleartext:
					if got[0] != "the password" {
						t.Fatalf("got %v, want the password", got)
					}
				case pglab.SkipAuth, pglab.RelaySCRAM:
					if imp.Sessions() == 0 {
						t.Fatalf("got %v, want a session", got)
					}
				}
			})
		}
	}
}

// TestPasswordProtectionOnTheRealServer: under require, pgx logs in to
// the real server with SCRAM bound to the channel; an MD5 role gets an
// error that says what to change on the server; verify-full needs no
// protection; a DSN that weakens channel binding is refused.
func TestPasswordProtectionOnTheRealServer(t *testing.T) {
	l := getLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(t *testing.T, drv, dsn string, opts ...securepg.Option) (hooks.ConnInfo, error) {
		t.Helper()
		var info hooks.ConnInfo
		opts = append(opts, securepg.WithLogger(discardLogger()), securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
			info = ci
			return nil
		}}))
		c, err := connectorFor(drv, dsn, opts...)
		if err != nil {
			return info, err
		}
		db := sql.OpenDB(c)
		defer db.Close()
		return info, db.PingContext(ctx)
	}

	t.Run("pgx binds SCRAM under require", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		s := newSDK(t)
		info, err := connect(t, "pgx", l.at(l.relay, "sslmode=require"), s.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if info.AuthMethod != "scram-sha-256-plus" || !info.ChannelBinding {
			t.Fatalf("auth %q, channel binding %v; want scram-sha-256-plus, bound", info.AuthMethod, info.ChannelBinding)
		}
		spans := s.ended("securepg.connect")
		if len(spans) != 1 {
			t.Fatalf("%d connect spans", len(spans))
		}
		wantAttrs(t, spanAttrs(spans[0]), map[string]any{"securepg.auth.method": "scram-sha-256-plus", "securepg.auth.channel_binding": true})
	})

	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv+"/verify-full needs no protection", func(t *testing.T) {
			isolateEnv(t)
			info, err := connect(t, drv, l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
			if err != nil {
				t.Fatal(err)
			}
			want := "scram-sha-256"
			if drv == "pgx" {
				want = "scram-sha-256-plus" // pgx's default channel_binding=prefer
			}
			if info.AuthMethod != want || len(info.PeerCertificates) == 0 {
				t.Fatalf("auth %q, want %q; %d certificates", info.AuthMethod, want, len(info.PeerCertificates))
			}
		})
		t.Run(drv+"/client certificate without a password is not affected", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
			t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
			info, err := connect(t, drv, "host=localhost port="+l.relay.PortString()+" user="+pglab.ClientCN+" dbname="+l.Database+" sslmode=require")
			if err != nil {
				t.Fatal(err)
			}
			if info.AuthMethod != "cert" {
				t.Fatalf("auth %q, want cert", info.AuthMethod)
			}
		})
	}

	t.Run("pgx: an MD5 role gets a clear error", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		dsn := "host=localhost port=" + l.relay.PortString() + " user=" + pglab.MD5User + " password=" + l.Password + " dbname=" + l.Database + " sslmode=require"
		_, err := connect(t, "pgx", dsn)
		requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
		for _, want := range []string{"MD5", "password_encryption = scram-sha-256"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not say %q: %v", want, err)
			}
		}
		// With the protection off, the MD5 role logs in: the error was
		// the protection's, not the server's.
		t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
		info, err := connect(t, "pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if info.AuthMethod != "md5" {
			t.Fatalf("auth %q, want md5", info.AuthMethod)
		}
	})

	t.Run("pgx: a DSN that weakens channel binding", func(t *testing.T) {
		for _, setting := range []string{"channel_binding=disable", "channel_binding=prefer", "require_auth=md5,scram-sha-256", "require_auth=!password"} {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			_, err := connect(t, "pgx", l.at(l.relay, "sslmode=require", setting))
			requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
			if !strings.Contains(err.Error(), strings.SplitN(setting, "=", 2)[0]) {
				t.Errorf("%s: the error does not name the setting: %v", setting, err)
			}
		}
		// So are a service file and PGCHANNELBINDING.
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		writeService(t, "[weak]\nchannel_binding=disable\n")
		_, err := connect(t, "pgx", "service=weak "+l.at(l.relay, "sslmode=require"))
		requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		t.Setenv("PGCHANNELBINDING", "disable")
		_, err = connect(t, "pgx", l.at(l.relay, "sslmode=require"))
		requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
		// channel_binding=require and require_auth=scram-sha-256 are what
		// the protection sets anyway.
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		if _, err := connect(t, "pgx", l.at(l.relay, "sslmode=require", "channel_binding=require", "require_auth=scram-sha-256")); err != nil {
			t.Fatal(err)
		}
	})

	// Passwords the DSN does not hold: a hook's (known only at connect),
	// and the passfile's (lib/pq's is judged at sql.Open and again at each
	// connect, securepg reading it for lib/pq).
	t.Run("a password from a hook or the passfile is protected too", func(t *testing.T) {
		hook := securepg.WithCredentials(hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
			return hooks.Credentials{Password: l.Password}, nil
		}))
		for _, drv := range []string{"pgx", "pq"} {
			for _, source := range []string{"hook", "passfile"} {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "require")
				imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, l.Addr(), l.Certs.SelfSigned.TLS)
				if err != nil {
					t.Fatal(err)
				}
				dsn := "host=localhost port=" + imp.PortString() + " user=" + l.User + " dbname=" + l.Database + " sslmode=require"
				var opts []securepg.Option
				if source == "hook" {
					opts = append(opts, hook)
				} else {
					pass := filepath.Join(t.TempDir(), "pgpass")
					if err := os.WriteFile(pass, []byte("*:*:*:*:"+l.Password+"\n"), 0o600); err != nil {
						t.Fatal(err)
					}
					t.Setenv("PGPASSFILE", pass)
				}
				_, err = connect(t, drv, dsn, opts...)
				requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
				imp.Close()
				if got := harvested(imp, l.Password); len(got) > 0 {
					t.Fatalf("%s, %s: the impostor got %s", drv, source, strings.Join(got, ", "))
				}
			}
		}
	})
}

// systemBundle is the system's public root bundle, which Go's
// SystemCertPool reads on Debian. .ci/run installs it when it is missing.
const systemBundle = "/etc/ssl/certs/ca-certificates.crt"

// TestPublicRootsByPathAreNotAnIdentity: verify-ca against a root file
// that holds the public CAs proves no more than sslrootcert=system: any
// public CA signs an attacker's own name. The password protection treats
// it as require, however the file is named: the policy's root or the
// DSN's.
func TestPublicRootsByPathAreNotAnIdentity(t *testing.T) {
	l := getLab(t)
	public, err := os.ReadFile(systemBundle)
	if err != nil {
		t.Fatalf("the system root bundle: %v", err)
	}
	ca, err := os.ReadFile(l.Certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	// The lab's CA stands for "a public CA that signed the attacker's
	// certificate for another name" (the wrong-host impostor's).
	bundle := filepath.Join(t.TempDir(), "bundle.crt")
	if err := os.WriteFile(bundle, append(append(public, '\n'), ca...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, where := range []string{"policy", "DSN"} {
			t.Run(drv+"/"+where, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
				imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, l.Addr(), l.Certs.WrongHost.TLS)
				if err != nil {
					t.Fatal(err)
				}
				defer imp.Close()
				extra := []string{"sslmode=verify-ca"}
				if where == "policy" {
					t.Setenv("SECUREPG_SSLROOTCERT", bundle)
				} else {
					extra = append(extra, "sslrootcert="+bundle)
				}
				c, err := connectorFor(drv, l.at(imp, extra...), securepg.WithLogger(discardLogger()))
				if drv == "pq" {
					requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				requireReason(t, db.PingContext(ctx), securepg.ReasonPasswordUnverifiedServer)
				db.Close()
				imp.Close()
				if got := harvested(imp, l.Password); len(got) > 0 {
					t.Fatalf("the impostor got %s", strings.Join(got, ", "))
				}
			})
		}
	}
	// The lab's CA alone is a private CA: verify-ca against it is an
	// identity, and the real server connects with no protection needed.
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
	db, err := sql.Open("securepg-pq", l.at(l.relay, "sslmode=verify-ca", "sslrootcert="+l.Certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}

// TestPassfileJudgedAtOpen: lib/pq's passfile is judged when the
// connector is made, as a DSN's or PGPASSWORD's password is, for each host
// it holds an entry for (securepg check reaches the same verdict): no
// connect is needed to learn that every one would be refused.
func TestPassfileJudgedAtOpen(t *testing.T) {
	for _, tc := range []struct {
		name, entries string
		refused       []string // the hosts refused, in order
	}{
		{"every host", "*:*:*:*:SECRET-pf", []string{"db1.internal:5432", "db2.internal:5432"}},
		{"the second host", "db2.internal:5432:app:app:SECRET-pf", []string{"db2.internal:5432"}},
		{"another port", "db1.internal:6432:*:*:SECRET-pf\ndb2.internal:6432:*:*:SECRET-pf", nil},
		{"another user", "*:*:*:admin:SECRET-pf", nil},
		{"a comment", "#*:*:*:*:SECRET-pf", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			pass := filepath.Join(t.TempDir(), "pgpass")
			if err := os.WriteFile(pass, []byte(tc.entries+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PGPASSFILE", pass)
			var heard []string
			h := securepg.WithHooks(hooks.Hooks{OnViolation: func(_ context.Context, v *hooks.Violation) {
				if v.Reason == securepg.ReasonPasswordUnverifiedServer {
					heard = append(heard, v.Host)
				}
			}})
			_, err := securepg.NewConnector("host=db1.internal,db2.internal user=app dbname=app sslmode=require",
				libpq.Backend(), securepg.WithLogger(discardLogger()), h)
			if len(tc.refused) == 0 {
				if err != nil {
					t.Fatalf("refused with no entry for either host: %v", err)
				}
				return
			}
			requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
			// The first refusal is the error; check lists the others.
			if !slices.Equal(heard, tc.refused[:1]) {
				t.Fatalf("OnViolation heard %q, want %q", heard, tc.refused[:1])
			}
			more := fmt.Sprintf("(and %d more;", len(tc.refused)-1)
			if got := strings.Contains(err.Error(), more); got != (len(tc.refused) > 1) {
				t.Fatalf("%q in the error: %v, want %v: %v", more, got, len(tc.refused) > 1, err)
			}
			if strings.Contains(err.Error(), "SECRET-pf") {
				t.Fatalf("the error holds the password: %v", err)
			}
		})
	}
}
