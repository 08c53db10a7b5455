package securepg_test

import (
	"context"
	"database/sql"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestAttackAppNameInSpans: application_name from the configuration (the
// DSN, PGAPPNAME, or a service file, which is file-controlled) reaches
// every connect span's securepg.application_name attribute as written:
// terminal escape sequences included. securepg check escapes it, and the
// executable's name and SECUREPG_APPLICATION_NAME are made printable, but
// the span is not.
func TestAttackAppNameInSpans(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	certs, err := pglab.GenerateCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A closed loopback port: the connect fails, its span is still made.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	hostile := "app\x1b]0;owned\x07\x1b[2J"
	svc := filepath.Join(dir, "pg_service.conf")
	if err := os.WriteFile(svc, []byte("[svc]\nhost=127.0.0.1\nport="+itoa(port)+"\nsslmode=verify-full\nsslrootcert="+certs.CAFile+"\napplication_name="+hostile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", svc)
	for _, backend := range []string{"pgx", "pq"} {
		t.Run(backend, func(t *testing.T) {
			s := newSDK(t)
			c, err := securepg.NewConnector("service=svc user=app dbname=app", append(s.opts, withBackend(backend))...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := db.PingContext(ctx); err == nil {
				t.Fatal("connected to a closed port")
			} else if strings.ContainsAny(err.Error(), "\x1b\x07") {
				t.Errorf("FINDING: the connect error holds the service file's escape sequences: %q", err)
			}
			spans := s.ended("")
			if len(spans) == 0 {
				t.Fatal("no span")
			}
			for _, sp := range spans {
				for _, kv := range sp.Attributes() {
					if v := kv.Value.String(); strings.ContainsAny(v, "\x1b\x07") {
						t.Errorf("FINDING: span %q attribute %s carries the service file's escape sequences: %q", sp.Name(), kv.Key, v)
					}
				}
			}
		})
	}
}
