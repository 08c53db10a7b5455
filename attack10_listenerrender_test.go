package securepg_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/libpq"
)

// TestAttack10ListenerRendersNoSecret: the contract says no %#v rendering
// contains a password (TestConnectorRendersNoSecret holds it for
// connectors). lib/pq's *pq.Listener keeps the DSN it reconnects with,
// which holds the DSN's password in the clear, and prints it: the
// libpq.Listener that libpq.NewListener returns prints neither, as code
// prints a value it is debugging (log.Printf("%+v", l)).
func TestAttack10ListenerRendersNoSecret(t *testing.T) {
	isolateEnv(t)
	const secret = "Zq7-listener-render"
	l, err := libpq.NewListener("host=localhost port="+attack10DeadPort(t)+" user=app password="+secret+" dbname=app sslmode=verify-full sslrootcert=system connect_timeout=1",
		time.Hour, time.Hour, func(pq.ListenerEventType, error) {}, securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	// Closed, and its goroutine gone (it closes Notify as it ends): the
	// rendering races with nothing. What it prints lived in the value all
	// along.
	l.Close()
	for range l.Notify {
	}
	for _, f := range []string{"%v", "%+v", "%#v"} {
		if s := fmt.Sprintf(f, l); strings.Contains(s, secret) {
			i := strings.Index(s, secret)
			t.Errorf("%s of the listener from libpq.NewListener renders the password after %q", f, s[max(0, i-60):i])
		}
	}
}
