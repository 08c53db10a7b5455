package securepg_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	pglab "github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// The fault tests put a server through what production servers go
// through: a restart under load, a route that turns into a blackhole, a
// rotated server certificate, a failover to a promoted standby. A driver
// that fails closed must not fail needlessly: each test shows the pool
// recovering, and that every connection made on the way was verified.

var backends = []string{"pgx", "pq"}

// sslQuery asks the server whether this session is encrypted.
const sslQuery = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

// startCluster starts a server of the test's own, for tests that restart,
// stop or reconfigure it (never the shared one: other tests use it).
func startCluster(t *testing.T) *pglab.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglab.Start(ctx, nil)
	if err != nil {
		labtest.Unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// verifiedDSN is c's DSN with verify-full against the lab CA.
func verifiedDSN(c *pglab.Cluster, extra ...string) string {
	return c.DSN(append([]string{"sslmode=verify-full", "sslrootcert=" + c.Certs.CAFile}, extra...)...)
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		<-tick.C
	}
}

// noLeaks records the goroutines and open file descriptors of the process
// now; the function it returns, called once everything the test opened is
// closed, fails t unless no goroutine started since is left and the
// descriptors are back to what they were (both polled with a deadline).
func noLeaks(t *testing.T) func() {
	t.Helper()
	fds := openFDs(t)
	ignore := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		goleak.VerifyNone(t, ignore)
		// io.Copy between TCP connections splices through pipes that
		// internal/poll keeps in a sync.Pool and closes in a finalizer:
		// garbage collections release them.
		n := openFDs(t)
		deadline := time.Now().Add(10 * time.Second)
		for n > fds && time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
			n = openFDs(t)
		}
		if n > fds {
			t.Errorf("open file descriptors: %d, %d before: %s", n, fds, describeFDs())
		}
	}
}

// describeFDs lists the open descriptors, for a failure message.
func describeFDs() string {
	es, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range es {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"->"+target)
	}
	return strings.Join(out, " ")
}

// connLog is an AfterConnect hook that records every connection securepg
// validated and handed to database/sql.
type connLog struct {
	mu    sync.Mutex
	infos []hooks.ConnInfo
}

func (l *connLog) hooks() hooks.Hooks {
	return hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
		l.mu.Lock()
		l.infos = append(l.infos, ci)
		l.mu.Unlock()
		return nil
	}}
}

func (l *connLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.infos)
}

func (l *connLog) last(t *testing.T) hooks.ConnInfo {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.infos) == 0 {
		t.Fatal("no connection was made")
	}
	return l.infos[len(l.infos)-1]
}

// unverified returns the connections that were not verify-full TLS to port.
func (l *connLog) unverified(port int) []hooks.ConnInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []hooks.ConnInfo
	for _, ci := range l.infos {
		if !ci.TLS || ci.Verification != "verify-full" || ci.Port != port || len(ci.PeerCertificates) == 0 {
			bad = append(bad, ci)
		}
	}
	return bad
}

// countingConnector counts the connections its connector handed over.
type countingConnector struct {
	driver.Connector
	made atomic.Int64
}

func (c *countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err == nil {
		c.made.Add(1)
	}
	return conn, err
}

// Close closes the connector as sql.DB.Close would have.
func (c *countingConnector) Close() error {
	if cl, ok := c.Connector.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// secretWatch is a log destination that only looks for a secret.
type secretWatch struct {
	secret  []byte
	records atomic.Int64
	leaked  atomic.Bool
}

func (w *secretWatch) Write(p []byte) (int, error) {
	w.records.Add(1)
	if bytes.Contains(p, w.secret) {
		w.leaked.Store(true)
	}
	return len(p), nil
}

func (w *secretWatch) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// enableLogConnections makes the server log every session it authorizes,
// with its TLS state.
func enableLogConnections(t *testing.T, c *pglab.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := c.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "ALTER SYSTEM SET log_connections = on").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
}

// authorizedSessions reads the server log from offset and returns the
// sessions of user it authorized, and those of them without TLS.
func authorizedSessions(t *testing.T, c *pglab.Cluster, offset int, user string) (all, plain []string) {
	t.Helper()
	log, err := c.ServerLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log[offset:]), "\n") {
		if !strings.Contains(line, "connection authorized: user="+user+" ") {
			continue
		}
		all = append(all, line)
		if !strings.Contains(line, "SSL enabled") {
			plain = append(plain, line)
		}
	}
	return all, plain
}

func serverLogSize(t *testing.T, c *pglab.Cluster) int {
	t.Helper()
	log, err := c.ServerLog()
	if err != nil {
		t.Fatal(err)
	}
	return len(log)
}

// transient reports whether err is what a client sees while a server goes
// away and comes back.
func transient(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{
		"connection refused", "connection reset", "broken pipe", "EOF", "conn closed", "closed network connection",
		"terminating connection due to administrator command", // 57P01
		"the database system is shutting down",                // 57P03
		"the database system is starting up",                  // 57P03
		"server closed the connection", "driver: bad connection", "unexpected message",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// TestServerRestartUnderLoad: goroutines query through one *sql.DB whose
// connections churn while the server restarts (pg_ctl restart -m fast).
// The errors fall in the restart window, are of the kinds a restart
// causes (never a policy refusal), and are bounded by the workers'
// backoff; the pool recovers within seconds; every connection handed to
// database/sql was verify-full TLS (AfterConnect), and the server agrees:
// every session it authorized for the role, before and after the
// restart, was encrypted, and there were no more of them than connections
// securepg validated plus those the restart cut short. Nothing leaks.
func TestServerRestartUnderLoad(t *testing.T) {
	labtest.Slow(t, "starts and restarts a server of its own under load")
	c := startCluster(t)
	enableLogConnections(t, c)
	const workers = 8
	const backoff = 50 * time.Millisecond // doubled after each failure, to a second
	for _, drv := range backends {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			leaks := noLeaks(t)
			logFrom := serverLogSize(t, c)
			var cl connLog
			logs := &secretWatch{secret: []byte(c.Password)}
			sc, err := securepg.NewConnector(verifiedDSN(c, "connect_timeout=5"), withBackend(drv),
				securepg.WithHooks(cl.hooks()), securepg.WithLogger(logs.logger()))
			if err != nil {
				t.Fatal(err)
			}
			cc := &countingConnector{Connector: sc}
			db := sql.OpenDB(cc)
			db.SetMaxOpenConns(workers)
			db.SetConnMaxLifetime(100 * time.Millisecond)

			type failure struct {
				worker int
				at     time.Time
				err    error
			}
			var (
				mu        sync.Mutex
				failures  []failure
				successes atomic.Int64
				plain     atomic.Int64
				lastOK    [workers]atomic.Int64 // start of each worker's last successful query, unix ns
				wg        sync.WaitGroup
			)
			// Stopping lets the queries in flight finish: a cancelled one
			// could end a connection between its validation and its use.
			quit := make(chan struct{})
			var stopOnce sync.Once
			stop := func() { stopOnce.Do(func() { close(quit) }) }
			defer stop()
			stopped := func() bool {
				select {
				case <-quit:
					return true
				default:
					return false
				}
			}
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					wait := backoff
					for !stopped() {
						start := time.Now()
						qctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						var ssl bool
						err := db.QueryRowContext(qctx, sslQuery).Scan(&ssl)
						cancel()
						if err != nil {
							mu.Lock()
							failures = append(failures, failure{w, time.Now(), err})
							mu.Unlock()
							select { // a client's backoff, not synchronisation
							case <-quit:
								return
							case <-time.After(wait):
							}
							wait = min(2*wait, time.Second)
							continue
						}
						wait = backoff
						if !ssl {
							plain.Add(1)
						}
						successes.Add(1)
						lastOK[w].Store(start.UnixNano())
					}
				}()
			}
			waitFor(t, 30*time.Second, "200 queries and churning connections before the restart", func() bool {
				return successes.Load() >= 200 && cc.made.Load() >= 2*workers
			})

			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer rcancel()
			t0 := time.Now()
			if err := c.Restart(rctx); err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			// Recovered: every worker has had a query that started after
			// the server was back succeed.
			waitFor(t, 15*time.Second, "every worker succeeding after the restart", func() bool {
				for w := range workers {
					if lastOK[w].Load() < t1.UnixNano() {
						return false
					}
				}
				return true
			})
			recovered := time.Now()
			n := successes.Load()
			waitFor(t, 30*time.Second, "200 queries after recovery", func() bool { return successes.Load() >= n+200 })
			stop()
			wg.Wait()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			leaks()

			window := recovered.Sub(t0)
			perWorker := 3 + int(math.Ceil(math.Log2(float64(window)/float64(backoff)))) + int(window/time.Second)
			t.Logf("%s: restart took %v, recovered %v after it returned; %d failures (bound %d per worker); %d queries; %d connections made",
				drv, t1.Sub(t0).Round(time.Millisecond), recovered.Sub(t1).Round(time.Millisecond), len(failures), perWorker,
				successes.Load(), cc.made.Load())
			kinds := map[string]int{}
			var per [workers]int
			for _, f := range failures {
				per[f.worker]++
				msg := f.err.Error()
				if len(msg) > 200 {
					msg = msg[:200]
				}
				kinds[msg]++
				if f.at.Before(t0) || f.at.After(recovered) {
					t.Errorf("a failure outside the restart window (%v after the restart began): %v", f.at.Sub(t0), f.err)
				}
				if errors.Is(f.err, securepg.ErrPolicyViolation) || !transient(f.err) {
					t.Errorf("not a transient failure: %T %v", f.err, f.err)
				}
				if strings.Contains(msg, c.Password) {
					t.Errorf("a password in an error: %v", f.err)
				}
			}
			for msg, k := range kinds {
				t.Logf("  %d× %s", k, msg)
			}
			for w, k := range per {
				if k > perWorker {
					t.Errorf("worker %d failed %d times in a restart window of %v (backoff allows %d)", w, k, window, perWorker)
				}
			}
			if plain.Load() != 0 {
				t.Errorf("%d queries ran on sessions pg_stat_ssl says are not encrypted", plain.Load())
			}
			made, validated := cc.made.Load(), int64(cl.count())
			if made != validated {
				t.Errorf("%d connections handed to database/sql, %d validated", made, validated)
			}
			if bad := cl.unverified(c.Port); len(bad) != 0 {
				t.Errorf("%d connections were not verify-full TLS: %+v", len(bad), bad[0])
			}
			all, notTLS := authorizedSessions(t, c, logFrom, c.User)
			if len(notTLS) != 0 {
				t.Errorf("the server authorized %d sessions without TLS: %s", len(notTLS), notTLS[0])
			}
			// pq's validation query runs in the session: a restart may end
			// one after the server authorized it and before securepg
			// validated it; each such session failed a worker's query.
			t.Logf("the server authorized %d sessions; securepg validated %d", len(all), validated)
			if s := int64(len(all)); s < validated || s > validated+int64(len(failures)) {
				t.Errorf("the server authorized %d sessions; securepg validated %d and %d queries failed", s, validated, len(failures))
			}
			if logs.leaked.Load() {
				t.Error("the password is in securepg's log")
			}
		})
	}
}

// timeoutError reports whether err says the attempt timed out.
func timeoutError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "timeout") || strings.Contains(msg, "timed out") || strings.Contains(msg, "deadline exceeded")
}

// TestBlackholedServer: the route to the server turns into a blackhole (the
// TCP handshake completes, nothing ever answers), then comes back. A
// connection attempt under connect_timeout, and one under a context
// deadline, fail with a timeout in bounded time and close their sockets;
// once the route is back, new connections succeed.
func TestBlackholedServer(t *testing.T) {
	labtest.Slow(t, "waits for connection timeouts")
	l := getLab(t)
	for _, drv := range backends {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			leaks := noLeaks(t)
			g, err := pglab.NewGate(l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			open := func(extra string) *sql.DB {
				t.Helper()
				c, err := securepg.NewConnector("host=localhost port="+g.PortString()+" "+l.auth()+" sslmode=verify-full sslrootcert="+
					l.Certs.CAFile+" "+extra, withBackend(drv), securepg.WithLogger(discardLogger()))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				db.SetMaxIdleConns(0) // every Ping makes a new connection
				return db
			}
			ping := func(db *sql.DB, ctx context.Context) (time.Duration, error) {
				start := time.Now()
				err := db.PingContext(ctx)
				return time.Since(start), err
			}
			// A watchdog far beyond the timeouts under test: a client that
			// ignored them would show as taking this long.
			const watchdog = 60 * time.Second
			const bound = 15 * time.Second
			withTimeout, noTimeout := open("connect_timeout=2"), open("")
			defer withTimeout.Close()
			defer noTimeout.Close()
			for _, db := range []*sql.DB{withTimeout, noTimeout} {
				ctx, cancel := context.WithTimeout(context.Background(), watchdog)
				if _, err := ping(db, ctx); err != nil {
					t.Fatalf("through the open gate: %v", err)
				}
				cancel()
			}

			g.Blackhole(true)
			accepted := g.Accepted()
			ctx, cancel := context.WithTimeout(context.Background(), watchdog)
			took, err := ping(withTimeout, ctx)
			cancel()
			t.Logf("connect_timeout=2: %v after %v", err, took.Round(time.Millisecond))
			if err == nil || took > bound || !timeoutError(err) || errors.Is(err, securepg.ErrPolicyViolation) {
				t.Errorf("connect_timeout=2 through a blackhole: err=%v after %v, want a timeout within %v", err, took, bound)
			}
			ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			took, err = ping(noTimeout, ctx)
			cancel()
			t.Logf("context deadline 2s: %v after %v", err, took.Round(time.Millisecond))
			if err == nil || took > bound || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, securepg.ErrPolicyViolation) {
				t.Errorf("a context deadline through a blackhole: err=%v after %v, want context.DeadlineExceeded within %v", err, took, bound)
			}
			// Neither connect_timeout nor a context deadline: securepg's
			// default connect timeout (10 s) bounds the connect.
			ctx, cancel = context.WithTimeout(context.Background(), watchdog)
			took, err = ping(noTimeout, ctx)
			cancel()
			t.Logf("the default connect timeout: %v after %v", err, took.Round(time.Millisecond))
			if err == nil || took < core.DefaultConnectTimeout-time.Second || took > bound || !timeoutError(err) || errors.Is(err, securepg.ErrPolicyViolation) {
				t.Errorf("no timeout set, through a blackhole: err=%v after %v, want a timeout after the default %v", err, took, core.DefaultConnectTimeout)
			}
			if g.Accepted() <= accepted {
				t.Fatal("the gate accepted no connection while blackholed: the attempts never reached it")
			}
			waitFor(t, 10*time.Second, "the clients closing the sockets they gave up on", func() bool { return g.Held() == 0 })

			g.Blackhole(false)
			for _, db := range []*sql.DB{withTimeout, noTimeout} {
				ctx, cancel := context.WithTimeout(context.Background(), watchdog)
				if _, err := ping(db, ctx); err != nil {
					t.Errorf("after the route came back: %v", err)
				}
				cancel()
			}
			withTimeout.Close()
			noTimeout.Close()
			g.Close()
			leaks()
		})
	}
}

// expiryPoint is the time_to_expiry gauge's value for localhost:port.
func expiryPoint(t *testing.T, s *sdk, port int) (float64, bool) {
	t.Helper()
	g, ok := s.metrics(t)["securepg.tls.server.certificate.time_to_expiry"].Data.(metricdata.Gauge[float64])
	if !ok {
		return 0, false
	}
	for _, dp := range g.DataPoints {
		if matches(dp.Attributes, map[string]string{"server.address": "localhost", "server.port": strconv.Itoa(port)}) {
			return dp.Value, true
		}
	}
	return 0, false
}

// TestServerCertificateRotation: the server gets a new key and certificate
// from the same CA, with another expiry, and reloads (no restart). New
// connections see the new certificate and verify it, the
// certificate-expiry gauge follows its NotAfter, and a connection made
// before the rotation keeps working.
func TestServerCertificateRotation(t *testing.T) {
	labtest.Slow(t, "starts a server of its own")
	c := startCluster(t)
	for i, drv := range backends {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			var cl connLog
			sc, err := securepg.NewConnector(verifiedDSN(c), append(s.opts, withBackend(drv), securepg.WithHooks(cl.hooks()))...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(sc)
			defer db.Close()
			db.SetMaxIdleConns(0) // every Ping makes a new connection
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sees := func(want *x509.Certificate) {
				t.Helper()
				ci := cl.last(t)
				if len(ci.PeerCertificates) == 0 || !bytes.Equal(ci.PeerCertificates[0].Raw, want.Raw) {
					var got string
					if len(ci.PeerCertificates) > 0 {
						got = ci.PeerCertificates[0].SerialNumber.Text(16)
					}
					t.Fatalf("the connection saw certificate %q, want %s", got, want.SerialNumber.Text(16))
				}
				if !ci.TLS || ci.Verification != "verify-full" {
					t.Fatalf("the connection: TLS %v, verification %q", ci.TLS, ci.Verification)
				}
				left := time.Until(want.NotAfter).Seconds()
				v, ok := expiryPoint(t, s, c.Port)
				if !ok || v > left+1 || v < left-60 {
					t.Fatalf("time_to_expiry{localhost:%d} = %v (found %v), want about %v", c.Port, v, ok, left)
				}
			}
			old, err := db.Conn(ctx) // held across the rotation
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			sees(c.Certs.Server.Leaf)

			// An expiry the gauge cannot mistake for the old one's.
			notAfter := time.Now().Add(time.Duration(30+i) * 24 * time.Hour).Truncate(time.Second)
			kp, err := c.RotateServerCertificate(ctx, notAfter)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.PingContext(ctx); err != nil {
				t.Fatalf("a new connection after the rotation: %v", err)
			}
			sees(kp.Leaf)
			var ssl bool
			if err := old.QueryRowContext(ctx, sslQuery).Scan(&ssl); err != nil || !ssl {
				t.Fatalf("the connection made before the rotation: ssl=%v err=%v", ssl, err)
			}
		})
	}
}

// silentSink is an upstream that counts the bytes it receives: what a
// TLS-stripping proxy in front of it would relay from a client that went
// on in plaintext.
type silentSink struct {
	ln       net.Listener
	received atomic.Int64
	wg       sync.WaitGroup
}

func newSilentSink(t *testing.T) *silentSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentSink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				s.received.Add(n)
			}()
		}
	}()
	return s
}

// close stops the sink once its connections have ended.
func (s *silentSink) close() int64 {
	s.ln.Close()
	s.wg.Wait()
	return s.received.Load()
}

// TestFailoverToPromotedStandby: a multi-host DSN with
// target_session_attrs=read-write lists a TLS-stripping proxy, a standby
// and its primary. Connections go to the primary; with the primary
// stopped there is no read-write host; once the standby is promoted,
// connections go to it. Every host is held to the policy all along: the
// stripping proxy is refused and reported at every connection, and never
// receives a byte after its 'N'.
func TestFailoverToPromotedStandby(t *testing.T) {
	labtest.Slow(t, "starts a primary and a standby")
	primary := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	standby, err := primary.StartStandby(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.Stop() })
	sink := newSilentSink(t)
	strip, err := pglab.NewStripProxy(sink.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer strip.Close()
	dsn := "host=localhost,localhost,localhost port=" + strip.PortString() + "," + strconv.Itoa(standby.Port) + "," + strconv.Itoa(primary.Port) +
		" user=" + primary.User + " password=" + primary.Password + " dbname=" + primary.Database +
		" target_session_attrs=read-write sslmode=verify-full sslrootcert=" + primary.Certs.CAFile + " connect_timeout=10"

	// connect opens a connection of its own and says where it went.
	connect := func(t *testing.T, drv string) (port int, inRecovery bool, err error) {
		t.Helper()
		var cl connLog
		var mu sync.Mutex
		var violations []*hooks.Violation
		h := cl.hooks()
		h.OnViolation = func(_ context.Context, v *hooks.Violation) {
			mu.Lock()
			violations = append(violations, v)
			mu.Unlock()
		}
		logs := &secretWatch{secret: []byte(primary.Password)}
		sc, err := securepg.NewConnector(dsn, withBackend(drv), securepg.WithHooks(h), securepg.WithLogger(logs.logger()))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(sc)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = db.QueryRowContext(ctx, "SELECT inet_server_port(), pg_is_in_recovery()").Scan(&port, &inRecovery)
		mu.Lock()
		defer mu.Unlock()
		if len(violations) != 1 || violations[0].Reason != securepg.ReasonTLSNotEstablished || violations[0].Outcome != "refused" ||
			!strings.HasSuffix(violations[0].Host, ":"+strip.PortString()) {
			t.Errorf("OnViolation heard %+v, want the stripping proxy refused once", violations)
		}
		if err == nil {
			if bad := cl.unverified(port); len(bad) != 0 || cl.count() != 1 {
				t.Errorf("connections %+v, want one verify-full connection to port %d", cl.infos, port)
			}
		} else if strings.Contains(err.Error(), primary.Password) {
			t.Error("a password in an error")
		}
		if logs.leaked.Load() {
			t.Error("the password is in securepg's log")
		}
		return port, inRecovery, err
	}

	for _, drv := range backends {
		t.Run("primary/"+drv, func(t *testing.T) {
			isolateEnv(t)
			port, rec, err := connect(t, drv)
			if err != nil || port != primary.Port || rec {
				t.Fatalf("connected to port %d (in recovery %v, err %v), want the primary at %d", port, rec, err, primary.Port)
			}
		})
	}
	if err := primary.StopFast(ctx); err != nil {
		t.Fatal(err)
	}
	for _, drv := range backends {
		t.Run("no-primary/"+drv, func(t *testing.T) {
			isolateEnv(t)
			port, _, err := connect(t, drv)
			if err == nil {
				t.Fatalf("connected to port %d with no read-write server up", port)
			}
			t.Logf("with the primary (%d) down and the standby (%d) read-only: %v", primary.Port, standby.Port, err)
			// Every host failed; the one refusal among them is the
			// stripping proxy's, never the server that was merely down.
			var pe *securepg.PolicyError
			if errors.As(err, &pe) && pe.Host != "localhost:"+strip.PortString() {
				t.Errorf("the policy error names %s, not the stripping proxy", pe.Host)
			}
		})
	}
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	for _, drv := range backends {
		t.Run("promoted/"+drv, func(t *testing.T) {
			isolateEnv(t)
			port, rec, err := connect(t, drv)
			if err != nil || port != standby.Port || rec {
				t.Fatalf("connected to port %d (in recovery %v, err %v), want the promoted standby at %d", port, rec, err, standby.Port)
			}
		})
	}
	strip.Close()
	if n := sink.close(); n != 0 {
		t.Fatalf("the stripping proxy relayed %d bytes from a client after its 'N'", n)
	}
	if a := strip.Accepted(); a != 3*int64(len(backends)) {
		t.Errorf("the stripping proxy was dialed %d times, want once per connection (%d)", a, 3*len(backends))
	}
}
