package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securepg/securepg/hooks"
)

// TestNoSecretInErrorsOrLogs drives every error path with a DSN that
// carries a password, and renders each error with Error, %v, %+v and %#v,
// and every log record, looking for the password or the whole DSN.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	l := getLab(t)
	const secret = "Zq7-leak-canary-pw"
	h := &recordHandler{}
	var rendered []string
	render := func(what string, v any) {
		if v == nil {
			return
		}
		for _, f := range []string{"%s", "%v", "%+v", "%#v"} {
			rendered = append(rendered, what+": "+fmt.Sprintf(f, v))
		}
	}
	kv := func(port string, extra string) string {
		return "host=localhost port=" + port + " user=" + l.User + " password=" + secret + " dbname=" + l.Database + " " + extra
	}
	url := func(port string, query string) string {
		return "postgres://" + l.User + ":" + secret + "@localhost:" + port + "/" + l.Database + "?" + query
	}
	ca := "sslrootcert=" + l.Certs.CAFile
	dsns := []string{
		kv(l.relay.PortString(), "sslmode=prefer"),              // refused at open
		url(l.relay.PortString(), "sslmode=disable"),            // refused at open
		kv(l.wrongHost.PortString(), "sslmode=verify-full "+ca), // refused at connect
		kv(l.strip.PortString(), "sslmode=verify-full "+ca),     // refused at connect
		kv(l.relay.PortString(), "sslmode=verify-full "+ca),     // wrong password: server error
		url(l.relay.PortString(), "sslmode=verify-full&sslrootcert="+l.Certs.CAFile),
		kv("1", "sslmode=verify-full "+ca),                       // nothing listens
		kv("notaport", "sslmode=verify-full"),                    // parse error
		"password='" + secret + " host=localhost",                // parse error
		"postgres://u:" + secret + "@localhost:badport/db",       // parse error
		"postgres://u:" + secret + "@localhost/db?sslmode=bogus", // parse error
		kv(l.relay.PortString(), "sslmode=verify-full "+ca+" sslcert=/nonexistent sslkey=/nonexistent"),
		// An empty value in a template swallows the password.
		"host= password=" + secret + " port=" + l.relay.PortString() + " sslmode=disable",
		"user= password=" + secret + " host=localhost port=" + l.relay.PortString(),
		"dbname= password=" + secret + " host=localhost port=" + l.relay.PortString(),
		// lib/pq splits on a non-breaking space, pgx does not.
		"host=localhost port=" + l.relay.PortString() + " password=" + secret + "\u00a0sslmode=verify-full " + ca,
		// URL query keys as lib/pq copies them, unescaped.
		"postgres://localhost:" + l.relay.PortString() + "/db?password%20=" + secret + "&sslmode=disable",
		// A '/' in a URL's password.
		"postgres://u:12/" + secret + "@localhost/db?sslmode=disable",
		// Key material inline, and where a path is expected.
		"host=localhost sslinline=true sslkey='-----BEGIN PRIVATE KEY-----\n" + secret + "\n-----END PRIVATE KEY-----' sslcert=x",
		"host=localhost sslmode=verify-full sslrootcert='-----BEGIN CERTIFICATE-----\n" + secret + "\n-----END CERTIFICATE-----'",
		// A service file whose line holds the password, without its '='.
		"service=leaky host=localhost",
	}
	svc := filepath.Join(t.TempDir(), "pg_service.conf")
	if err := os.WriteFile(svc, []byte("[leaky]\nsslmode=disable\n"+secret+"\"ss-Word-tail\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, mode := range []string{"enforce", "audit"} {
			for i, dsn := range dsns {
				isolateEnv(t)
				t.Setenv("PGSERVICEFILE", svc)
				c, err := securepg.NewConnector(dsn, withBackend(drv), securepg.WithMode(mode), securepg.WithLogger(slog.New(h)))
				render(fmt.Sprintf("%s/%s/%d open", drv, mode, i), err)
				walk(t, err, secret)
				if err != nil {
					continue
				}
				render(fmt.Sprintf("%s/%s/%d connector", drv, mode, i), c)
				db := sql.OpenDB(c)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = db.PingContext(ctx)
				cancel()
				render(fmt.Sprintf("%s/%s/%d ping", drv, mode, i), err)
				walk(t, err, secret)
				var ce *pgconn.ConnectError
				if errors.As(err, &ce) {
					t.Errorf("%s/%s/%d: a *pgconn.ConnectError (its Config holds the password) reached the caller", drv, mode, i)
				}
				db.Close()
			}
		}
	}
	// Credentials from a provider, a hook and the password file, rejected by
	// the server.
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noPW := l.noPassword()
	for _, drv := range []string{"pgx", "pq"} {
		for i, opt := range []securepg.Option{
			securepg.WithCredentials(hooks.CredentialFunc(func(context.Context, hooks.Attempt) (hooks.Credentials, error) {
				return hooks.Credentials{User: l.User, Password: secret}, nil
			})),
			securepg.WithPasswordFile(pwFile),
		} {
			isolateEnv(t)
			c, err := securepg.NewConnector(noPW, withBackend(drv), securepg.WithLogger(slog.New(h)), opt)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			err = db.Ping()
			if err == nil {
				t.Fatal("a wrong password was accepted")
			}
			render(fmt.Sprintf("%s/credentials/%d", drv, i), err)
			db.Close()
		}
	}

	t.Setenv("SECUREPG_MIN_SSLMODE", secret)
	_, err := sql.Open("securepg", kv(l.relay.PortString(), ""))
	render("bad env", err)

	rendered = append(rendered, h.text())
	if len(rendered) < 50 {
		t.Fatalf("only %d renderings: the paths did not run", len(rendered))
	}
	for _, s := range rendered {
		if strings.Contains(s, secret) || strings.Contains(s, "ss-Word-tail") {
			t.Errorf("leak: %s", s)
		}
		for _, dsn := range dsns {
			if strings.Contains(s, dsn) {
				t.Errorf("full DSN in: %s", s)
			}
		}
	}
}

// walk follows every field of v that reflection reaches, exported or not
// (as a reflective logger or a debugger would), and fails t if a string in
// it holds secret.
func walk(t *testing.T, v any, secret string) {
	t.Helper()
	if v == nil {
		return
	}
	seen := map[uintptr]bool{}
	var visit func(r reflect.Value, depth int)
	visit = func(r reflect.Value, depth int) {
		if depth > 40 || !r.IsValid() {
			return
		}
		switch r.Kind() {
		case reflect.String:
			if strings.Contains(r.String(), secret) {
				t.Errorf("a secret is reachable by reflection from %T", v)
			}
		case reflect.Pointer, reflect.Interface:
			if r.IsNil() {
				return
			}
			if r.Kind() == reflect.Pointer {
				if seen[r.Pointer()] {
					return
				}
				seen[r.Pointer()] = true
			}
			visit(r.Elem(), depth+1)
		case reflect.Struct:
			for i := 0; i < r.NumField(); i++ {
				visit(r.Field(i), depth+1)
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < r.Len() && i < 64; i++ {
				visit(r.Index(i), depth+1)
			}
		case reflect.Map:
			for _, k := range r.MapKeys() {
				visit(k, depth+1)
				visit(r.MapIndex(k), depth+1)
			}
		}
	}
	visit(reflect.ValueOf(v), 0)
}
