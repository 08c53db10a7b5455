package pqconn

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab/labtest"

	"github.com/securepg/securepg/lab"
)

func TestMain(m *testing.M) { os.Exit(labtest.RunMain(m)) }

// TestPQTriesEveryAddress: a host name that resolves to an impostor first
// and the real server second. Like libpq, securepg's lib/pq dialer tries
// each address; the impostor is refused before it hears anything, recorded
// for the caller to report, and the connection is made to the server.
func TestPQTriesEveryAddress(t *testing.T) {
	c := labtest.Shared(t)
	labtest.ClearPG(t)
	relay, err := lab.NewRelay(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	imp, err := lab.NewTLSImpostorOn(net.JoinHostPort("127.0.0.2", relay.PortString()), c.Addr(), c.Certs.SelfSigned.TLS, 0)
	if err != nil {
		t.Fatalf("a second loopback address: %v", err)
	}
	defer imp.Close()
	pc, _, err := PreparePQ("host=localhost port="+relay.PortString()+" user="+c.User+" password="+c.Password+
		" dbname="+c.Database+" sslmode=verify-full sslrootcert="+c.Certs.CAFile, core.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	pc.Lookup = func(context.Context, string) ([]string, error) { return []string{"127.0.0.2", "127.0.0.1"}, nil }
	rec := core.NewRecorder()
	creds := func(context.Context, core.Target) (*core.Creds, error) { return nil, nil }
	conn, facts, _, err := pc.Connect(context.Background(), creds, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !facts.TLS || facts.Verify != core.VerifyFull {
		t.Fatalf("facts %+v", facts)
	}
	rej := rec.Rejected()
	if len(rej) != 1 || rej[0].Reason != core.ReasonCertificateUntrusted || rej[0].Host != "localhost:"+strconv.Itoa(relay.Port()) {
		t.Fatalf("rejected %+v", rej)
	}
	conn.Close()
	imp.Close()
	if n := imp.FromClient(); n != 0 {
		t.Fatalf("the impostor heard %d bytes", n)
	}
}
