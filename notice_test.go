package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/securepg/securepg/libpq"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
)

// TestNoticeHandler: libpq.ConnectorWithNoticeHandler is lib/pq's
// pq.ConnectorWithNoticeHandler for a securepg connector (lib/pq's own
// panics on one), on both backends: RAISE NOTICE reaches the handler.
func TestNoticeHandler(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			c, err := securepg.NewConnector(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
				withBackend(drv), securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var heard []string
			c = libpq.ConnectorWithNoticeHandler(c, func(e *pq.Error) {
				mu.Lock()
				heard = append(heard, e.Severity+" "+string(e.Code)+" "+e.Message)
				mu.Unlock()
			})
			if libpq.ConnectorNoticeHandler(c) == nil {
				t.Fatal("ConnectorNoticeHandler: nil")
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if _, err := db.ExecContext(context.Background(), "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$"); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(heard) != 1 || heard[0] != "NOTICE 00000 hello 42" {
				t.Fatalf("notices heard: %q", heard)
			}
		})
	}
}

// TestPQNoticeHandlerConnectorIsAnError: lib/pq's own
// pq.ConnectorWithNoticeHandler around a securepg connector would panic on
// connect; it gets an error that says what to use instead.
func TestPQNoticeHandlerConnectorIsAnError(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	c, err := securepg.NewConnector(l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile),
		withBackend("pq"), securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(pq.ConnectorWithNoticeHandler(c, func(*pq.Error) {}))
	defer db.Close()
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "libpq.ConnectorWithNoticeHandler") {
		t.Fatalf("Ping: %v", err)
	}
}
