package securepg_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/libpq"
)

// attack11Cert is a throwaway self-signed certificate for localhost.
func attack11Cert(t testing.TB) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// attack11CopyPeer accepts every login at once, answers BEGIN (in a
// transaction from then on) and every other query with an empty result;
// to a COPY it answers CopyInResponse followed by bad.
func attack11CopyPeer(t testing.TB, bad []byte) string {
	return sessionPeer(t, attack11Cert(t), func() func(net.Conn, byte, []byte) error {
		status := "I"
		return func(c net.Conn, typ byte, body []byte) error {
			if typ != 'Q' {
				return nil
			}
			var reply []byte
			switch {
			case bytes.HasPrefix(body, []byte("BEGIN")):
				status = "T"
				reply = append(attack10Msg('C', "BEGIN\x00"), attack10Msg('Z', status)...)
			case bytes.HasPrefix(body, []byte("COPY")):
				reply = append(attack10Msg('G', "\x00\x00\x01\x00\x00"), bad...)
			case bytes.HasPrefix(body, []byte("ROLLBACK")), bytes.HasPrefix(body, []byte("COMMIT")):
				status = "I"
				reply = append(attack10Msg('C', "ROLLBACK\x00"), attack10Msg('Z', status)...)
			case len(body) <= 2: // ";": lib/pq's ping
				reply = append(attack10Msg('I', ""), attack10Msg('Z', status)...)
			default:
				reply = append(attack10Msg('C', "SELECT 0\x00"), attack10Msg('Z', status)...)
			}
			_, err := c.Write(reply)
			return err
		}
	})
}

// TestAttack11CopyInCrashesTheProcess: securepg's root wrappers recover a
// lib/pq panic around each call into the driver (TestPQDriverPanicsAreSurvived),
// but lib/pq's COPY FROM STDIN (pq.CopyIn, prepared in a transaction)
// reads the server's answers in a goroutine of its own (copy.go:
// copyin.resploop), where nothing recovers: a CommandComplete whose tag
// lib/pq cannot parse (resploop calls panic(err) itself), or an
// ErrorResponse without its final zero byte, ends the whole process. The
// peer is one the policy lets through (require, no password). The test
// runs the COPY in a child process and fails when the child dies.
func TestAttack11CopyInCrashesTheProcess(t *testing.T) {
	if port := os.Getenv("ATTACK11_CHILD_COPY_PORT"); port != "" {
		os.Setenv("SECUREPG_MIN_SSLMODE", "require")
		db, err := sql.Open(libpq.DriverName, "host=localhost port="+port+" user=app dbname=x sslmode=require connect_timeout=5")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		st, err := tx.PrepareContext(ctx, "COPY t (a) FROM STDIN")
		if err != nil {
			fmt.Println("prepare:", err)
		} else {
			_, err = st.ExecContext(ctx, "x")
			fmt.Println("exec:", err)
			// The flush waits for lib/pq's answer reader to end: after it,
			// the bad answer has been read (or the process is gone).
			_, err = st.ExecContext(ctx)
			fmt.Println("flush:", err)
			st.Close()
		}
		fmt.Println("ATTACK11 CHILD SURVIVED")
		return
	}
	for _, tc := range []struct {
		name string
		bad  []byte
	}{
		{"a CommandComplete tag lib/pq cannot parse", attack10Msg('C', "INSERT x y z\x00")},
		{"an ErrorResponse without its final zero byte", attack10Msg('E', "SERROR\x00C08P01\x00Mgone\x00")},
		{"a CommandComplete without its zero byte", attack10Msg('C', "COPY 1")},
		{"a well-formed COPY tag with a count lib/pq cannot parse", attack10Msg('C', "COPY many\x00")},
		{"a message shorter than its length field", []byte{'C', 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := attack11CopyPeer(t, tc.bad)
			if out := childSurvives(t, "TestAttack11CopyInCrashesTheProcess", "ATTACK11_CHILD_COPY_PORT="+port); !strings.Contains(out, "ATTACK11 CHILD SURVIVED") {
				t.Fatalf("the child never reached the copy's end:\n%.700s", out)
			}
		})
	}
}
