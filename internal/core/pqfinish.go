package core

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"
)

// Connected finishes a connect lib/pq made through d (dc, err: what its
// Connect returned; mark: the recorder's mark before it): it gathers the
// session's facts and judges the session. On error dc is closed.
func (d *PQDialer) Connected(ctx context.Context, dc driver.Conn, mark int, err error, serverView bool) (*Socket, error) {
	d.done.Store(true)
	socks := d.Rec.Since(mark)
	if err != nil {
		for _, s := range socks {
			s.Stop()
			s.Raw.Close() // lib/pq closes on its errors, not after a panic
		}
		return nil, err
	}
	if len(socks) != 1 {
		dc.Close()
		return nil, NotValidated(d.Host.Addr(), d.Net.Policy, "unknown", "the connection did not go through securepg's dialer")
	}
	s := socks[0]
	if !s.Stop() {
		dc.Close()
		return nil, CtxError(ctx, errors.New("the context ended while connecting"))
	}
	s.Raw.SetDeadline(time.Time{})
	s.Facts.Auth, s.Facts.ChannelBinding = s.watch.result()
	// securepg's own queries below run on lib/pq, which waits for the
	// server past the context (its cancel request does not end the read)
	// and re-panics on a malformed message: the socket's deadline follows
	// the context, and a panic is the connect's error.
	stop := context.AfterFunc(ctx, func() { s.Raw.SetDeadline(time.Now()) })
	defer func() {
		if stop() {
			s.Raw.SetDeadline(time.Time{})
		}
	}()
	fail := func(err error) (*Socket, error) {
		s.Raw.Close()
		dc.Close()
		return nil, CtxError(ctx, err)
	}
	// lib/pq watches a query's context in a goroutine that only its own
	// return stops: after a panic, this one ends it.
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.Facts.Network == "tcp" && serverView {
		server, err := recovered(func() (*ServerSSL, error) { return queryServerSSL(qctx, dc) })
		if err != nil {
			return fail(err)
		}
		if server != nil {
			// Behind a pooler, the backend that answers is the pooler's,
			// not the process the peer named at startup.
			pid, ok := s.watch.backendKey()
			server.ViaPooler = !ok || pid != server.PID
		}
		s.Facts.Server = server
	}
	s.Facts.Superuser = s.watch.superuser()
	if AskRole(d.Net.Policy, s.Facts) {
		role, err := recovered(func() (*RoleFacts, error) { return AskRoleDriver(qctx, dc) })
		if err != nil {
			return fail(err)
		}
		s.Facts.Role = role
	}
	refusal, audited := Pass(d.Net.Policy, Check{Stage: StageSession, Facts: s.Facts})
	if refusal != nil {
		d.Rec.Reject(refusal)
		dc.Close()
		return nil, refusal
	}
	s.Audited = append(s.Audited, audited...)
	return s, nil
}

// pgStatSSL asks the server for its view of this backend's TLS (SHOW ssl
// would report the server's setting). pg_backend_pid() tells a pooler's
// backend from the process the peer named in BackendKeyData.
const pgStatSSL = "SELECT ssl, version, cipher, bits, pg_backend_pid() FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

func queryServerSSL(ctx context.Context, conn driver.Conn) (*ServerSSL, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, pgStatSSL, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 5)
	if err := rows.Next(dest); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	s := &ServerSSL{Version: AsString(dest[1]), Cipher: AsString(dest[2])}
	s.SSL, _ = dest[0].(bool)
	bits, _ := dest[3].(int64)
	pid, _ := dest[4].(int64)
	s.Bits, s.PID = int(bits), uint32(pid)
	return s, nil
}

// CtxError makes err report the context's end, as database/sql expects.
func CtxError(ctx context.Context, err error) error {
	cerr := CtxEnded(ctx)
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("securepg: connect: %w (%v)", cerr, err)
}

// CtxEnded is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed: a socket with the same deadline can time out a moment
// before the context's timer fires.
func CtxEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// errMalformedSession: lib/pq panicked reading the server's answer to one
// of securepg's queries.
var errMalformedSession = errors.New("securepg: the server sent a malformed message in answer to securepg's query (lib/pq could not read it)")

// recovered runs f, one of securepg's queries on a lib/pq connection,
// turning lib/pq's panic on a malformed message into an error.
func recovered[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, errMalformedSession
		}
	}()
	return f()
}
