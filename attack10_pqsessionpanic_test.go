package securepg_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	pglab "github.com/securepg/securepg/lab"
)

// attack10SessionPeer takes TLS with cert, accepts the login at once
// (is_superuser=off) and answers the first query with answer.
func attack10SessionPeer(t *testing.T, cert tls.Certificate, answer []byte) string {
	return attack10SessionPeerStall(t, cert, answer, time.Second)
}

// attack10SessionPeerStall is attack10SessionPeer, keeping the connection
// open for stall after its answer.
func attack10SessionPeerStall(t *testing.T, cert tls.Certificate, answer []byte, stall time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	msg := func(typ byte, body string) []byte {
		b := make([]byte, 5, 5+len(body))
		b[0] = typ
		binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
		return append(b, body...)
	}
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20*time.Second + stall))
				req := make([]byte, 8)
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				c.Write([]byte{'S'})
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
				r := bufio.NewReader(tc)
				var hdr [4]byte
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(hdr[:]))-4); err != nil {
					return
				}
				var out []byte
				out = append(out, msg('R', "\x00\x00\x00\x00")...)
				out = append(out, msg('S', "is_superuser\x00off\x00")...)
				out = append(out, msg('S', "server_version\x0016.0\x00")...)
				out = append(out, msg('K', "\x00\x00\x00\x01\x00\x00\x00\x02")...)
				out = append(out, msg('Z', "I")...)
				if _, err := tc.Write(out); err != nil {
					return
				}
				if _, err := r.ReadByte(); err != nil { // the first query
					return
				}
				tc.Write(answer)
				c.SetDeadline(time.Now().Add(stall))
				io.Copy(io.Discard, r)
			}()
		}
	}()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		err = db.PingContext(ctx)
	}()
	if panicked != nil {
		t.Fatalf("sql.Open(%q) Ping panicked on a peer's malformed RowDescription: %s", driverName("pq"), fmt.Sprint(panicked))
	}
	if err == nil {
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
	port := attack10SessionPeerStall(t, l.Certs.SelfSigned.TLS, nil, 15*time.Second)
	db, err := sql.Open(driverName("pq"), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err = db.PingContext(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a connect with a 2 s context returned after %v (err %v)", d, err)
	}
	if err == nil {
		t.Fatal("connected")
	}
}
