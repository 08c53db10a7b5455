package securepg_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	pglab "github.com/securepg/securepg/lab"
)

// attack10RoleFlooder is a peer on loopback that takes TLS with cert,
// accepts the login at once (is_superuser=off) and answers the first
// query with a row description and then DataRows without end: what a
// peer the policy lets through (require, a login without a password)
// can do to SECUREPG_FORBID_SUPERUSER's query about the session's role.
func attack10RoleFlooder(t *testing.T, cert tls.Certificate) (port string, sent func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	msg := func(typ byte, body []byte) []byte {
		b := make([]byte, 5, 5+len(body))
		b[0] = typ
		binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
		return append(b, body...)
	}
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
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
		out = append(out, msg('R', []byte{0, 0, 0, 0})...)
		out = append(out, msg('S', []byte("is_superuser\x00off\x00"))...)
		out = append(out, msg('S', []byte("server_version\x0016.0\x00"))...)
		out = append(out, msg('S', []byte("client_encoding\x00UTF8\x00"))...)
		out = append(out, msg('K', []byte{0, 0, 0, 1, 0, 0, 0, 2})...)
		out = append(out, msg('Z', []byte{'I'})...)
		if _, err := tc.Write(out); err != nil {
			return
		}
		// The first message the client sends in the session: the query.
		typ, err := r.ReadByte()
		if err != nil || typ == 'X' {
			return
		}
		col := []byte("c\x00")
		col = append(col, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0) // table, column, type text, size -1, modifier -1, format text
		desc := msg('T', append([]byte{0, 1}, col...))
		val := strings.Repeat("x", 1<<10)
		row := []byte{0, 1, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(row[2:], uint32(len(val)))
		row = msg('D', append(row, val...))
		batch := append([]byte{}, desc...)
		for len(batch) < 64<<10 {
			batch = append(batch, row...)
		}
		tc.Write(batch)
		batch = batch[len(desc):]
		for {
			n, err := tc.Write(batch)
			total += int64(n)
			if err != nil {
				return
			}
		}
	}()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p, func() int64 { return total }
}

// TestAttack10RoleQueryFlood: under SECUREPG_FORBID_SUPERUSER the pgx
// backend asks the session's role with pgconn's Exec(...).ReadAll(), which
// keeps every row the server sends; the lib/pq backend and the listeners
// keep two. A peer that answers with DataRows without end makes the
// connect allocate at the speed of the socket until the connect timeout
// (10 s by default): memory is not bounded.
func TestAttack10RoleQueryFlood(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_FORBID_SUPERUSER", "true")
			t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
			t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
			port, _ := attack10RoleFlooder(t, l.Certs.SelfSigned.TLS)
			db, err := sql.Open(driverName(drv), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require connect_timeout=3")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			peak, err := attack10PingPeakHeap(ctx, db)
			t.Logf("%s: peak heap growth %d MiB; err %v", drv, peak>>20, err)
			if err == nil {
				t.Fatal("connected")
			}
			if peak > 64<<20 {
				t.Fatalf("the connect held %d MiB at its peak after 3 s of a peer's endless rows to the role query", peak>>20)
			}
		})
	}
}

// attack10PingPeakHeap pings db and returns the largest growth of the
// live heap seen while the ping ran.
func attack10PingPeakHeap(ctx context.Context, db *sql.DB) (uint64, error) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.GC()
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
					peak = ms.HeapAlloc - base
				}
			}
		}
	}()
	err := db.PingContext(ctx)
	close(stop)
	<-done
	return peak, err
}

// TestAttack10TargetSessionAttrsFlood: the same peer against pgx's own
// target_session_attrs=read-write check (ValidateConnect: SHOW
// transaction_read_only, read with Exec(...).ReadAll()), which securepg
// runs inside the connect after judging the session: every row the
// peer sends is kept until the connect times out.
func TestAttack10TargetSessionAttrsFlood(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
	t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
	port, _ := attack10RoleFlooder(t, l.Certs.SelfSigned.TLS)
	db, err := sql.Open(driverName("pgx"), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require connect_timeout=3 target_session_attrs=read-write")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	peak, err := attack10PingPeakHeap(ctx, db)
	t.Logf("peak heap growth %d MiB; err %v", peak>>20, err)
	if err == nil {
		t.Fatal("connected")
	}
	if peak > 64<<20 {
		t.Fatalf("the connect held %d MiB at its peak after 3 s of a peer's endless rows to target_session_attrs' query", peak>>20)
	}
}
