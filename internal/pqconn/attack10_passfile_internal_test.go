package pqconn

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lib/pq"
)

// attack10PasswordPeer is a plaintext peer on loopback that asks for the
// password in cleartext and returns what the client sent.
func attack10PasswordPeer(t *testing.T) (port int, got <-chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- ""
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			ch <- ""
			return
		}
		io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(hdr[:]))-4)
		c.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3})
		typ, err := r.ReadByte()
		if err != nil || typ != 'p' {
			ch <- ""
			return
		}
		io.ReadFull(r, hdr[:])
		body := make([]byte, binary.BigEndian.Uint32(hdr[:])-4)
		io.ReadFull(r, body)
		c.Write([]byte{'E', 0, 0, 0, 12, 'C', '2', '8', 'P', '0', '1', 0, 0})
		ch <- string(body[:len(body)-1])
	}()
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// TestAttack10PassfileModeAsLibPQ: securepg reads the passfile for the
// lib/pq backend (sql.Open: pqPassfile) and judges, at each listener
// reconnect, the password lib/pq will read itself with the same function.
// It ignores a file whose mode has any 0o077 bit; lib/pq ignores one
// whose mode has any 0x77 bit (0o167: owner execute, not group
// execute). The two disagree on 0o700 and 0o610: what securepg judged
// is not what lib/pq sends.
func TestAttack10PassfileModeAsLibPQ(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o700, 0o610} {
		t.Run(strconv.FormatUint(uint64(mode), 8), func(t *testing.T) {
			port, got := attack10PasswordPeer(t)
			path := filepath.Join(t.TempDir(), "pgpass")
			if err := os.WriteFile(path, []byte("*:*:*:*:s3cret-from-passfile\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			dsn := "host=127.0.0.1 port=" + strconv.Itoa(port) + " user=app dbname=app sslmode=disable passfile=" + path
			cfg, err := pq.NewConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			judged, err := pqPassfile(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			cn, err := pq.Open(dsn) // lib/pq as a listener reconnects: it reads the passfile itself
			if err == nil {
				cn.Close()
			}
			var sent string
			select {
			case sent = <-got:
			case <-time.After(5 * time.Second):
			}
			if sent != judged {
				t.Errorf("passfile mode %o: securepg reads %q, lib/pq sends %q", mode, judged, sent)
			}
		})
	}
}
