package securepg_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// sessionPeer is a TLS peer on loopback (with cert) that accepts every
// login at once (is_superuser off) and, on each connection, hands each
// message the client then sends to the answer session() made for it;
// answer writes to c, and its error ends the connection. A connection
// lives 60 s at most.
func sessionPeer(t testing.TB, cert tls.Certificate, session func() func(c net.Conn, typ byte, body []byte) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				servePeerSession(c, cert, session())
			}()
		}
	}()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

func servePeerSession(c net.Conn, cert tls.Certificate, answer func(c net.Conn, typ byte, body []byte) error) {
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
	if _, err := tc.Write(attack10Startup()); err != nil {
		return
	}
	for {
		var h [5]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(h[1:])-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if h[0] == 'X' || answer(tc, h[0], body) != nil {
			return
		}
	}
}

// pingUnpanicked pings db within 10 s and returns its error, failing t if
// the ping panicked (what names the peer's doing).
func pingUnpanicked(t *testing.T, db *sql.DB, what string) (err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Ping panicked on %s: %v", what, r)
		}
	}()
	return db.PingContext(ctx)
}

// childSurvives runs test in a child process of this test binary, with
// env added, and fails t when the child does not exit cleanly (a panic in
// a goroutine nothing recovers ends the process), showing the panic. It
// returns the child's output.
func childSurvives(t *testing.T, test string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		i := max(strings.Index(string(out), "panic:"), 0)
		t.Fatalf("the child process died (%v):\n%.700s", err, out[i:])
	}
	return string(out)
}
