package securepg_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"net"
	"strings"
	"testing"
	"time"

	pglab "github.com/securepg/securepg/lab"
)

// malformingPeer accepts every login at once and answers each query: with
// an empty result, or with bad when its text holds "boom" (simple and
// extended protocol alike).
func malformingPeer(t *testing.T, cert tls.Certificate, bad []byte) string {
	empty := append(attack10Msg('C', "SELECT 0\x00"), attack10Msg('Z', "I")...)
	return sessionPeer(t, cert, func() func(net.Conn, byte, []byte) error {
		boom := false
		return func(c net.Conn, typ byte, body []byte) error {
			boom = boom || bytes.Contains(body, []byte("boom"))
			if typ != 'Q' && typ != 'S' { // a simple query, or the end of an extended one
				return nil
			}
			reply := empty
			if boom {
				reply, boom = bad, false
			}
			_, err := c.Write(reply)
			return err
		}
	})
}

// TestPQDriverPanicsAreSurvived: lib/pq panics on some malformed messages
// from the server after the startup (an ErrorResponse without its final
// zero byte, a DataRow value longer than its message) and recovers none,
// so that a peer the policy lets through could end the process. On
// securepg's lib/pq connections each call returns an error instead, and
// the connection is discarded (the next call connects anew).
func TestPQDriverPanicsAreSurvived(t *testing.T) {
	l := getLab(t)
	for _, tc := range []struct {
		name string
		bad  []byte
		op   func(context.Context, *sql.DB) error
	}{
		{"an error without its end, to Exec", attack10Msg('E', "SERROR\x00C08P01\x00Mgone\x00"),
			func(ctx context.Context, db *sql.DB) error {
				_, err := db.ExecContext(ctx, "select 'boom'")
				return err
			}},
		{"an error without its end, to Exec with arguments", attack10Msg('E', "SERROR\x00C08P01\x00Mgone\x00"),
			func(ctx context.Context, db *sql.DB) error {
				_, err := db.ExecContext(ctx, "select 'boom', $1::int", 1)
				return err
			}},
		{"an error without its end, to Prepare", attack10Msg('E', "SERROR\x00C08P01\x00Mgone\x00"),
			func(ctx context.Context, db *sql.DB) error {
				s, err := db.PrepareContext(ctx, "select 'boom'")
				if err == nil {
					s.Close()
				}
				return err
			}},
		{"a DataRow value longer than its message, to Next",
			append(append(attack10Msg('T', "\x00\x01a\x00"+"\x00\x00\x00\x00"+"\x00\x00"+"\x00\x00\x00\x19"+"\xff\xff"+"\xff\xff\xff\xff"+"\x00\x00"),
				attack10Msg('D', "\x00\x01\x00\x00\x00\x64x")...), attack10Msg('C', "SELECT 1\x00")...),
			func(ctx context.Context, db *sql.DB) error {
				rows, err := db.QueryContext(ctx, "select 'boom'")
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
				}
				return rows.Err()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
			t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
			port := malformingPeer(t, l.Certs.SelfSigned.TLS, tc.bad)
			db, err := sql.Open(driverName("pq"), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require connect_timeout=5")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			var panicked any
			func() {
				defer func() { panicked = recover() }()
				err = tc.op(ctx, db)
			}()
			if panicked != nil {
				t.Fatalf("the call panicked: %v", panicked)
			}
			if err == nil || !strings.Contains(err.Error(), "could not read a message from the server") {
				t.Fatalf("err = %v, want securepg's error for a driver panic", err)
			}
			if n := db.Stats().OpenConnections; n != 0 {
				t.Fatalf("%d connections left open after the driver panicked on one", n)
			}
			if err := db.PingContext(ctx); err != nil {
				t.Fatalf("the next call, on a new connection: %v", err)
			}
		})
	}
}
