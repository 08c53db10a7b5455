package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/securepg/securepg/lab/labtest"
)

// attack10SessionPeer takes TLS with cert on every connection, accepts
// the login at once (is_superuser=off) and answers each connection's
// first query with answer.
func attack10SessionPeer(t *testing.T, cert tls.Certificate, answer []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	msg := func(typ byte, body string) []byte {
		b := make([]byte, 5, 5+len(body))
		b[0] = typ
		binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
		return append(b, body...)
	}
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
				c.SetDeadline(time.Now().Add(5 * time.Second))
				req := make([]byte, 8)
				if _, err := io.ReadFull(c, req); err != nil || binary.BigEndian.Uint32(req[4:]) != 80877103 {
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
				if _, err := r.ReadByte(); err != nil {
					return
				}
				tc.Write(answer)
				c.SetDeadline(time.Now().Add(time.Second))
				io.Copy(io.Discard, r)
			}()
		}
	}()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// TestAttack10ProbeMalformedRowDescription: `securepg probe --driver
// securepg-pq` is the tool for looking at an endpoint one does not
// trust. Its connect has an AfterConnect hook, which turns on the lib/pq
// backend's server-view query inside the connect; a peer that lets the
// probe in (require, certificate login) and answers that query with a
// RowDescription one field short makes lib/pq panic, unrecovered: the
// CLI dies instead of reporting the peer.
func TestAttack10ProbeMalformedRowDescription(t *testing.T) {
	certs := attackCerts(t)
	labtest.IsolateEnv(t)
	useDriver(t, "pq")
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_SSLCERT", certs.Client.CertFile)
	t.Setenv("SECUREPG_SSLKEY", certs.Client.KeyFile)
	short := "\x00\x01c\x00" + "\x00\x00\x00\x00" + "\x00\x00" + "\x00\x00\x00\x19" + "\xff\xff" + "\xff\xff\xff\xff"
	answer := append([]byte{'T', 0, 0, 0, 0}, short...)
	binary.BigEndian.PutUint32(answer[1:], uint32(4+len(short)))
	port := attack10SessionPeer(t, certs.SelfSigned.TLS, answer)
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		t.Setenv("DATABASE_URL", "host=localhost port="+port+" user=app dbname=x sslmode=require")
		cli(t, "", "probe", "--json")
	}()
	if panicked != nil {
		t.Fatalf("securepg probe --driver securepg-pq panicked on a peer's malformed RowDescription: %s", fmt.Sprint(panicked))
	}
}
