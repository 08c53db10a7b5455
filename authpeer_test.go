package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	pglab "github.com/securepg/securepg/lab"
)

// TestHugeMessageBeforeTheSession: a peer that announces a message of
// gigabytes before the session starts (an authentication request, an
// error, a notice) would have the driver allocate for it: pgx up to 1 GiB,
// lib/pq 4 GiB, or read an error until a NUL byte. securepg refuses it at
// its header. The client needs no password for this: a client
// certificate, under require, is enough to reach an impostor.
func TestHugeMessageBeforeTheSession(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		for _, reply := range [][]byte{
			{'R', 0x3f, 0xff, 0xff, 0xf0, 0, 0, 0, 10},
			{'R', 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 10},
			{'E', 0x7f, 0xff, 0xff, 0xf0, 'S', 'F', 'A', 'T', 'A', 'L'},
			{'N', 0x10, 0, 0, 0},
		} {
			t.Run(drv+"/"+string(reply[:1]), func(t *testing.T) {
				db := openAtReplyImpostor(t, l, drv, reply)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				allocated, err := pingAllocated(ctx, db)
				if err == nil || !strings.Contains(err.Error(), "before the session started") {
					t.Fatalf("err = %v, want a refusal of the huge message", err)
				}
				if allocated > 64<<20 {
					t.Fatalf("connecting allocated %d MiB", allocated>>20)
				}
			})
		}
	}
}

// pingAllocated pings db within ctx and returns how many bytes the
// process allocated meanwhile (after a collection) and the ping's error.
func pingAllocated(ctx context.Context, db *sql.DB) (uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := db.PingContext(ctx)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// openAtReplyImpostor opens drv, under require, at an impostor that
// answers the startup message with reply. The client authenticates with
// a client certificate and no password: the protection does not apply,
// and any client that gets through TLS meets reply.
func openAtReplyImpostor(t *testing.T, l *lab, drv string, reply []byte) *sql.DB {
	t.Helper()
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
	t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
	imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, reply)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imp.Close() })
	db, err := sql.Open(driverName(drv), "host=localhost port="+imp.PortString()+" user="+pglab.ClientCN+" dbname=x sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestAuthMethodIsTheLastOneAsked: a peer that answers AuthenticationOk
// and then asks for the password in cleartext gets it from pgx when the
// protection is off (pgx keeps answering after AuthenticationOk); what
// securepg reports must be the cleartext password, not trust.
func TestAuthMethodIsTheLastOneAsked(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	t.Setenv("SECUREPG_MODE", "audit")
	// AuthenticationOk, AuthenticationCleartextPassword, then a failed
	// login, so that the connection ends without waiting for a deadline.
	reply := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0, 'R', 0, 0, 0, 8, 0, 0, 0, 3, 'E', 0, 0, 0, 12, 'C', '2', '8', 'P', '0', '1', 0, 0}
	imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, reply)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	seen := &violations{}
	c, err := securepg.NewConnector(l.at(imp, "sslmode=require"), seen.option(), securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("connected to an impostor that failed the login")
	}
	if !strings.Contains(seen.String(), "audited:password_unverified_server") {
		t.Fatalf("OnViolation saw %q", seen.String())
	}
	if got := seen.details(); !strings.Contains(got, "cleartext") || strings.Contains(got, "without asking") {
		t.Fatalf("the audit says %q, want the cleartext request", got)
	}
}

// issuer is a caching credential provider that counts what it issues and
// how often it is told the server rejected its credentials.
type issuer struct {
	mu              sync.Mutex
	issued, dropped int
}

func (p *issuer) Credentials(context.Context, hooks.Attempt) (hooks.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.issued++
	return hooks.Credentials{User: "app", Password: "Zq7-issued-" + strconv.Itoa(p.issued)}, nil
}

func (p *issuer) AuthFailed(context.Context, hooks.Attempt) {
	p.mu.Lock()
	p.dropped++
	p.mu.Unlock()
}

// TestLoginFailureWithoutARequestKeepsTheCache: a peer that fails a login
// it never asked for (an impostor answering 28P01 to the startup message)
// has not rejected any credentials: a caching provider is not told to
// drop them, and nothing is fetched again. Each dropped cache can mean a
// new Vault lease and a new role on the real database.
func TestLoginFailureWithoutARequestKeepsTheCache(t *testing.T) {
	l := getLab(t)
	body := []byte("SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")
	reply := append([]byte{'E', 0, 0, 0, 0}, body...)
	binary.BigEndian.PutUint32(reply[1:], uint32(len(body)+4))
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, reply)
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close()
			prov := &issuer{}
			// verify-ca against the self-signed certificate itself: the
			// peer passes TLS, so that only the login is in question.
			c, err := connectorFor(drv, "host=localhost port="+imp.PortString()+" dbname=app sslmode=verify-ca sslrootcert="+l.Certs.SelfSigned.CertFile,
				securepg.WithCredentials(prov), securepg.WithMinSSLMode("verify-ca"), securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range 3 {
				if err := db.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "28P01") {
					t.Fatalf("err = %v, want the peer's 28P01", err)
				}
			}
			prov.mu.Lock()
			defer prov.mu.Unlock()
			if prov.issued != 3 || prov.dropped != 0 {
				t.Fatalf("3 connections: %d credentials issued, cache dropped %d times; want 3 and 0", prov.issued, prov.dropped)
			}
		})
	}
}

// TestDirectTLSIsNotAnSSLRequest: with sslnegotiation=direct the first
// byte from the server is a TLS record, not an answer to an SSLRequest. A
// good connection reports no violation, and an impostor at the first host
// is reported for what it is (its certificate), not as a refusal of TLS.
func TestDirectTLSIsNotAnSSLRequest(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			good, err := pglab.NewDirectTLSProxy(l.Addr(), l.Certs.Server.TLS)
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			bad, err := pglab.NewDirectTLSProxy(l.Addr(), l.Certs.SelfSigned.TLS)
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			ping := func(dsn string) string {
				seen := &violations{}
				c, err := connectorFor(drv, dsn, seen.option(), securepg.WithLogger(discardLogger()))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := db.PingContext(ctx); err != nil {
					t.Fatal(err)
				}
				return seen.String()
			}
			tail := " " + l.auth() + " sslmode=verify-full sslrootcert=" + l.Certs.CAFile + " sslnegotiation=direct"
			if s := ping("host=localhost port=" + good.PortString() + tail); s != "" {
				t.Fatalf("a good direct-TLS connection reported %q", s)
			}
			s := ping("host=localhost,localhost port=" + bad.PortString() + "," + good.PortString() + tail)
			if s != "refused:certificate_untrusted" {
				t.Fatalf("impostor first: OnViolation saw %q, want refused:certificate_untrusted", s)
			}
		})
	}
}

// TestPgxCancelRequest: code that reaches pgx through sql.Conn.Raw can
// cancel a running query (PgConn.CancelRequest), which dials the server
// again after the connection was made.
func TestPgxCancelRequest(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	db, err := sql.Open("securepg", l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pc *pgconn.PgConn
	if err := conn.Raw(func(dc any) error { pc = dc.(*stdlib.Conn).Conn().PgConn(); return nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(ctx, "SELECT pg_sleep(30)")
		done <- err
	}()
	// Wait, on another connection, until the server runs the query: a
	// cancel that arrives before it starts cancels nothing.
	for {
		var running bool
		if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active')", pc.PID()).Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running {
			break
		}
	}
	if err := pc.CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "57014") {
		t.Fatalf("the query ended with %v, want canceled (57014)", err)
	}
}

// TestMalformedStartupMessages: lib/pq's startup panics on some malformed
// messages (an index out of range, a missing string terminator), and
// nothing in lib/pq recovers there; an ErrorResponse of an odd length is
// read up to a NUL byte, however far. A peer that gets through TLS must
// get a connect error, not a dead process or a gigabyte of memory.
func TestMalformedStartupMessages(t *testing.T) {
	l := getLab(t)
	for name, reply := range map[string][]byte{
		"error without terminator":       {'E', 0, 0, 0, 8, 'x', 'x', 'x', 'x'},
		"empty authentication request":   {'R', 0, 0, 0, 4},
		"short BackendKeyData":           {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'K', 0, 0, 0, 5, 1},
		"ParameterStatus w/o terminator": {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'S', 0, 0, 0, 5, 'x'},
		"short error read to a NUL":      append([]byte{'E', 0, 0, 0, 4}, bytes.Repeat([]byte{'A'}, 256<<10)...),
	} {
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(drv+"/"+name, func(t *testing.T) {
				db := openAtReplyImpostor(t, l, drv, reply)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := db.PingContext(ctx); err == nil {
					t.Fatal("connected")
				} else if strings.Contains(err.Error(), "AAAA") {
					t.Fatal("the peer's bytes reached the error")
				}
			})
		}
	}
}

// TestRejectionOnAnotherHostKeepsTheCache: the host whose login failed
// without asking (28000 to the startup message) and the host that asked
// (and was refused by the password protection before any answer) are
// different attempts: neither rejected credentials it got.
func TestRejectionOnAnotherHostKeepsTheCache(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	t.Setenv("SECUREPG_MIN_SSLMODE", "require")
	body := []byte("SFATAL\x00C28000\x00Mno pg_hba.conf entry\x00\x00")
	fail := append([]byte{'E', 0, 0, 0, 0}, body...)
	binary.BigEndian.PutUint32(fail[1:], uint32(len(body)+4))
	a, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, fail)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pglab.NewAuthImpostor(pglab.AskMD5, l.Addr(), l.Certs.SelfSigned.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	prov := &issuer{}
	c, err := securepg.NewConnector("host=localhost,localhost port="+a.PortString()+","+b.PortString()+" dbname=app sslmode=require",
		securepg.WithCredentials(prov), securepg.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := db.PingContext(ctx); err == nil {
			t.Fatal("connected")
		}
	}
	prov.mu.Lock()
	defer prov.mu.Unlock()
	if prov.dropped != 0 {
		t.Fatalf("the provider was told %d times that its credentials were rejected", prov.dropped)
	}
}

// TestParameterStatusFlood: a peer that accepts the login and then sends
// distinct ParameterStatus messages without end would have the driver
// keep every one of them until its deadline (pgx allocated 1.7 GB).
// securepg cuts it off once the startup passes MaxStartupBytes, on both
// backends, with an error that says so.
func TestParameterStatusFlood(t *testing.T) {
	l := getLab(t)
	flood := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0} // AuthenticationOk
	for i := 0; len(flood) < 8<<20; i++ {
		name := "p" + strconv.Itoa(i)
		value := strings.Repeat("v", 64)
		msg := []byte{'S', 0, 0, 0, 0}
		msg = append(append(append(append(msg, name...), 0), value...), 0)
		binary.BigEndian.PutUint32(msg[1:], uint32(len(msg)-1))
		flood = append(flood, msg...)
	}
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			db := openAtReplyImpostor(t, l, drv, flood)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			allocated, err := pingAllocated(ctx, db)
			if err == nil || !strings.Contains(err.Error(), "bytes before the session started") {
				t.Fatalf("err = %v, want the flood cut off", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("cut off only by the deadline: %v", err)
			}
			if allocated > 32<<20 {
				t.Fatalf("connecting allocated %d MiB", allocated>>20)
			}
		})
	}
}
