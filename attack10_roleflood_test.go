package securepg_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
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
func attack10RoleFlooder(t *testing.T, cert tls.Certificate) string {
	return sessionPeer(t, cert, func() func(net.Conn, byte, []byte) error {
		return func(c net.Conn, _ byte, _ []byte) error {
			col := "c\x00" + "\x00\x00\x00\x00" + "\x00\x00" + "\x00\x00\x00\x19" + "\xff\xff" + "\xff\xff\xff\xff" + "\x00\x00" // text, size -1
			val := strings.Repeat("x", 1<<10)
			row := attack10Msg('D', "\x00\x01"+string(binary.BigEndian.AppendUint32(nil, uint32(len(val))))+val)
			batch := attack10Msg('T', "\x00\x01"+col)
			if _, err := c.Write(batch); err != nil {
				return err
			}
			batch = bytes.Repeat(row, 64)
			for { // rows without end, until the client goes
				if _, err := c.Write(batch); err != nil {
					return err
				}
			}
		}
	})
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
			port := attack10RoleFlooder(t, l.Certs.SelfSigned.TLS)
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
	port := attack10RoleFlooder(t, l.Certs.SelfSigned.TLS)
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
