package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	pglab "github.com/securepg/securepg/lab"
)

// attack10SessionPeer accepts the login at once (is_superuser=off) and
// answers the first query with answer, then nothing.
func attack10SessionPeer(t *testing.T, cert tls.Certificate, answer []byte) string {
	return sessionPeer(t, cert, func() func(net.Conn, byte, []byte) error {
		first := true
		return func(c net.Conn, _ byte, _ []byte) error {
			if first {
				first = false
				_, err := c.Write(answer)
				return err
			}
			return nil
		}
	})
}

// TestAttack10PQSessionQueryPanics: after the startup, the lib/pq
// backend runs queries of its own inside the connect (the server's view
// of TLS, pg_stat_ssl, when spans record or the server view is on; the
// session's role under SECUREPG_FORBID_SUPERUSER). A peer the policy lets
// through (require, a login without a password) that answers with a
// RowDescription one field short makes lib/pq panic with an index out of
// range, which lib/pq re-panics (errRecover passes runtime errors on) and
// securepg does not recover there (pqConnect covers conn.Connect only):
// db.Ping panics, and, in database/sql's own connection opener
// goroutine, the process dies. (The =false case: this test binary
// installs a recording tracer provider (main_test.go), which turns the
// server-view query on, as any service with OpenTelemetry tracing does.)
func TestAttack10PQSessionQueryPanics(t *testing.T) {
	l := getLab(t)
	for _, forbid := range []string{"true", "false"} {
		t.Run("SECUREPG_FORBID_SUPERUSER="+forbid, func(t *testing.T) { attack10PQSessionQueryPanics(t, l, forbid) })
	}
}

func attack10PQSessionQueryPanics(t *testing.T, l *lab, forbid string) {
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_FORBID_SUPERUSER", forbid)
	t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
	t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
	// RowDescription: one field whose description lacks its format code.
	short := "\x00\x01c\x00" + "\x00\x00\x00\x00" + "\x00\x00" + "\x00\x00\x00\x19" + "\xff\xff" + "\xff\xff\xff\xff"
	answer := append([]byte{'T', 0, 0, 0, 0}, short...)
	binary.BigEndian.PutUint32(answer[1:], uint32(4+len(short)))
	port := attack10SessionPeer(t, l.Certs.SelfSigned.TLS, answer)
	db, err := sql.Open(driverName("pq"), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pingUnpanicked(t, db, "a peer's malformed RowDescription"); err == nil {
		t.Fatal("connected")
	}
}

// TestAttack10PQSessionQueryHonoursTheContext: the same peer, answering
// the lib/pq backend's post-startup query with nothing at all (and
// ignoring the cancel request lib/pq then sends). securepg cleared the
// socket's deadline before that query (pqfinish.go: Raw.SetDeadline of
// the zero time), so the connect waits for the peer, not for the caller's
// context.
func TestAttack10PQSessionQueryHonoursTheContext(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_FORBID_SUPERUSER", "true")
	t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
	t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
	port := attack10SessionPeer(t, l.Certs.SelfSigned.TLS, nil) // answers nothing
	db, err := sql.Open(driverName("pq"), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// The peer never answers (for 60 s): only the context can end it.
	if err = db.PingContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}
