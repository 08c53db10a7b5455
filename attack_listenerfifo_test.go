package securepg_test

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
)

// TestAttackListenerPassfileFIFO: securepg refuses, before a driver reads
// it, a passfile that is not a regular file (a FIFO would block the
// driver outside any context), and its connector never lets lib/pq open
// a passfile (it reads it itself, bounded). A listener whose DSN sets no
// password and no passfile hands lib/pq a DSN without passfile=, so at
// every (re)connect lib/pq opens ~/.pgpass (or PGPASSFILE, read again)
// itself, before it calls securepg's dialer: a FIFO there, made after the
// listener was judged, blocks the listener's connect forever, with no
// context, deadline or connect_timeout that can end it.
func TestAttackListenerPassfileFIFO(t *testing.T) {
	t.Skip("FINDING: a listener without password/passfile lets lib/pq open ~/.pgpass (or a PGPASSFILE set later) itself at each reconnect; a FIFO there blocks the connect forever, before securepg's dialer or any bound runs")
	isolateEnv(t)
	home := os.Getenv("HOME")
	// A closed loopback port: nothing answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d, err := securepg.NewListenerDialer("host=127.0.0.1 port="+itoa(port)+" user=app dbname=app sslmode=disable connect_timeout=1",
		securepg.WithMinSSLMode("disable"), securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	// After the listener was judged, ~/.pgpass becomes a FIFO (mode 0600,
	// which lib/pq accepts).
	fifo := filepath.Join(home, ".pgpass")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := pq.DialOpen(d, d.DSN()) // what the listener does at each (re)connect
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("the connect ended: %v", err)
	case <-time.After(5 * time.Second):
		// Unblock lib/pq so that the goroutine ends.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("FINDING: the listener's connect blocked on a FIFO at ~/.pgpass that lib/pq opened itself (connect_timeout=1 did not end it)")
	}
}
