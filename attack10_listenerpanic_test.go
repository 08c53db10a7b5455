package securepg_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/libpq"
)

// TestAttack10ListenerMalformedStartup: lib/pq's startup panics on some
// malformed messages from the server (an index out of range, a string
// without its terminator). securepg recovers that panic on the sql.Open
// path (pqconn.pqConnect; TestMalformedStartupMessages), but a lib/pq
// listener connects in lib/pq's own goroutine (pq.NewDialListener ->
// newDialListenerConn -> pq.DialOpen with securepg's ListenerDialer), where
// nothing recovers: a peer the policy lets through (require, no password)
// that answers the startup with one of these messages crashes the whole
// process. The test makes the call lib/pq's listener goroutine makes, with
// a recover of its own; the panic must never reach it.
func TestAttack10ListenerMalformedStartup(t *testing.T) {
	l := getLab(t)
	t.Run("control: well-formed long messages connect", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		long := strings.Repeat("v", 3000)
		param := append([]byte("search_path\x00"+long), 0)
		reply := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0, 'S', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(reply[10:], uint32(4+len(param)))
		reply = append(reply, param...)
		notice := []byte("SNOTICE\x00C00000\x00M" + long + "\x00\x00")
		n := []byte{'N', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(n[1:], uint32(4+len(notice)))
		reply = append(append(reply, n...), notice...)
		reply = append(reply, 'K', 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 'Z', 0, 0, 0, 5, 'I')
		imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, reply)
		if err != nil {
			t.Fatal(err)
		}
		defer imp.Close()
		d, err := libpq.NewListenerDialer("host=localhost port="+imp.PortString()+" user=app dbname=x sslmode=require connect_timeout=5",
			securepg.WithLogger(discardLogger()))
		if err != nil {
			t.Fatal(err)
		}
		rd := &attack10Dialer{d: d}
		defer rd.closeAll()
		cn, err := pq.DialOpen(rd, d.DSN())
		if err != nil {
			t.Fatalf("a well-formed startup with a 3,000-byte ParameterStatus and notice was refused: %v", err)
		}
		cn.Close()
	})
	for name, reply := range map[string][]byte{
		"empty authentication request":   {'R', 0, 0, 0, 4},
		"short BackendKeyData":           {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'K', 0, 0, 0, 5, 1},
		"ParameterStatus w/o terminator": {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'S', 0, 0, 0, 5, 'x'},
		"error without terminator":       {'E', 0, 0, 0, 8, 'x', 'x', 'x', 'x'},
	} {
		t.Run(name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
			t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
			imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, reply)
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close()
			d, err := libpq.NewListenerDialer("host=localhost port="+imp.PortString()+" user="+pglab.ClientCN+
				" dbname=x sslmode=require connect_timeout=5", securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			rd := &attack10Dialer{d: d}
			defer rd.closeAll()
			done := make(chan string, 1)
			go func() {
				defer func() {
					if r := recover(); r != nil {
						done <- fmt.Sprint(r)
					}
				}()
				cn, err := pq.DialOpen(rd, d.DSN()) // what lib/pq's listener goroutine calls
				if err == nil {
					cn.Close()
					done <- "connected"
					return
				}
				done <- ""
			}()
			select {
			case p := <-done:
				if p == "connected" {
					t.Fatal("connected")
				}
				if p != "" {
					t.Fatalf("lib/pq panicked inside a listener connect through securepg's dialer (in pq.NewListener's goroutine this kills the process): %s", p)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the listener connect did not end")
			}
		})
	}
}

// attack10Dialer is the listener's dialer, keeping every connection it
// made so that the test can close what a panicking lib/pq left open.
type attack10Dialer struct {
	d     *libpq.ListenerDialer
	mu    sync.Mutex
	conns []net.Conn
}

func (r *attack10Dialer) keep(c net.Conn, err error) (net.Conn, error) {
	if c != nil {
		r.mu.Lock()
		r.conns = append(r.conns, c)
		r.mu.Unlock()
	}
	return c, err
}

func (r *attack10Dialer) Dial(network, address string) (net.Conn, error) {
	return r.keep(r.d.Dial(network, address))
}

func (r *attack10Dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	return r.keep(r.d.DialTimeout(network, address, timeout))
}

func (r *attack10Dialer) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// listenerChild runs a listener on dsn in a child process until lib/pq
// reports the peer's bad message as a failure (a failed attempt, a
// dropped connection): had lib/pq read it past its end, the process would
// have died first.
func listenerChild(t *testing.T, dsn string) {
	failed := make(chan error, 1)
	l, err := libpq.NewListener(dsn, time.Second, time.Second, func(ev pq.ListenerEventType, err error) {
		if ev == pq.ListenerEventConnectionAttemptFailed || ev == pq.ListenerEventDisconnected {
			select {
			case failed <- err:
			default:
			}
		}
	}, securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("lib/pq reported no failure of the peer's connection")
	}
}

// TestAttack10ListenerCrashesTheProcess: the same through
// libpq.NewListener as code uses it, in a child process: lib/pq's
// listener goroutine panics on the peer's empty authentication request
// and the process dies, instead of the listener reporting a failed
// connect to its event callback.
func TestAttack10ListenerCrashesTheProcess(t *testing.T) {
	if port := os.Getenv("ATTACK10_CHILD_PORT"); port != "" {
		listenerChild(t, "host=localhost port="+port+" user=app dbname=x sslmode=require connect_timeout=5")
		return
	}
	l := getLab(t)
	isolateEnv(t)
	imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, []byte{'R', 0, 0, 0, 4})
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	childSurvives(t, "TestAttack10ListenerCrashesTheProcess", "ATTACK10_CHILD_PORT="+imp.PortString(), "SECUREPG_MIN_SSLMODE=require")
}

// TestAttack10ListenerNotificationCrashesTheProcess: once a listener's
// session started, lib/pq's ListenerConn reads notifications in its own
// goroutine with no recover at all. A peer the policy lets through
// (require, no password) that follows ReadyForQuery with a
// NotificationResponse two bytes long makes lib/pq index past the message
// and the process dies. (securepg's watch ends at ReadyForQuery.)
func TestAttack10ListenerNotificationCrashesTheProcess(t *testing.T) {
	if port := os.Getenv("ATTACK10_CHILD_NOTIFY_PORT"); port != "" {
		listenerChild(t, "host=localhost port="+port+" user=app dbname=x sslmode=require connect_timeout=5")
		return
	}
	l := getLab(t)
	isolateEnv(t)
	reply := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0}
	reply = append(reply, 'S', 0, 0, 0, 21)
	reply = append(reply, "is_superuser\x00off\x00"...)
	reply = append(reply, 'K', 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2)
	reply = append(reply, 'Z', 0, 0, 0, 5, 'I')
	reply = append(reply, 'A', 0, 0, 0, 6, 0, 0) // NotificationResponse: a process ID cut short
	imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, reply)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	childSurvives(t, "TestAttack10ListenerNotificationCrashesTheProcess", "ATTACK10_CHILD_NOTIFY_PORT="+imp.PortString(), "SECUREPG_MIN_SSLMODE=require")
}
