package pqconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/securepg/securepg/internal/core"

	"github.com/lib/pq"
	"go.opentelemetry.io/otel/trace"
)

// Connect opens one lib/pq connection: the hosts in order (shuffled with
// load_balance_hosts=random), each with its own credentials, with
// target_session_attrs=prefer-standby as two passes, as libpq does.
func (c *PQConfig) Connect(ctx context.Context, creds core.CredsFunc, rec *core.Recorder) (driver.Conn, core.Facts, []*core.Violation, error) {
	order := make([]*core.PQTarget, len(c.targets))
	for i := range c.targets {
		order[i] = &c.targets[i]
	}
	if c.random {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	passes := []pq.TargetSessionAttrs{c.tsa}
	if c.tsa == pq.TargetSessionAttrsPreferStandby {
		passes = []pq.TargetSessionAttrs{pq.TargetSessionAttrsStandby, pq.TargetSessionAttrsAny}
	}
	var errs []error
	for _, tsa := range passes {
		for _, t := range order {
			cr, err := creds(ctx, t.Target)
			if err != nil {
				return nil, core.Facts{}, nil, err
			}
			tries := []bool{t.TLS != nil && !t.Allow} // TLS first?
			if t.Allow {
				tries = []bool{false, true}
			}
			for i, useTLS := range tries {
				mark := rec.Mark()
				dc, s, err := c.connectOnce(ctx, t, useTLS, tsa, cr, rec)
				if err == nil {
					return dc, s.Facts, s.Audited, nil
				}
				errs = append(errs, fmt.Errorf("%s: %w", t.Addr(), err))
				if core.CtxEnded(ctx) != nil {
					return nil, core.Facts{}, nil, core.CtxError(ctx, err)
				}
				// allow retries with TLS only when the server refused the
				// plaintext session, not when nothing answered.
				if i == 0 && len(tries) > 1 && len(rec.Since(mark)) == 0 {
					break
				}
			}
		}
	}
	if len(errs) == 1 {
		return nil, core.Facts{}, nil, errors.Unwrap(errs[0])
	}
	return nil, core.Facts{}, nil, fmt.Errorf("securepg: could not connect to any of the hosts: %w", errors.Join(errs...))
}

func (c *PQConfig) connectOnce(ctx context.Context, t *core.PQTarget, useTLS bool, tsa pq.TargetSessionAttrs, cr *core.Creds, rec *core.Recorder) (driver.Conn, *core.Socket, error) {
	rec.Attempt(t.Target)
	cfg := c.base.Clone()
	cfg.Host, cfg.Hostaddr, cfg.Port, cfg.TargetSessionAttrs = t.PQHost, t.HostIP, t.Port, tsa
	if cr != nil {
		if cr.User != "" {
			cfg.User = cr.User
		}
		cfg.Password = cr.Password
	}
	if cfg.Password == "" {
		// lib/pq would open the passfile outside the context (and block on
		// a FIFO): securepg reads it, and lib/pq gets one it cannot find.
		pw, err := pqPassfile(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		cfg.Password = pw
	}
	cfg.Passfile = noPassfile
	if useTLS && cfg.Password != "" {
		if err := c.passwordCheck(t, rec); err != nil {
			return nil, nil, err
		}
	}
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dialer := &core.PQDialer{Net: &c.PQNet, Host: t, UseTLS: useTLS, Rec: rec, Outer: ctx, Password: cfg.Password != ""}
	conn.Dialer(dialer)
	mark := rec.Mark()
	dc, err := pqConnect(ctx, conn)
	s, err := dialer.Connected(ctx, dc, mark, err, c.ServerView || trace.SpanFromContext(ctx).IsRecording())
	if err != nil {
		return nil, nil, err
	}
	return dc, s, nil
}

// passwordCheck is the password protection: lib/pq can neither bind
// SCRAM to the TLS channel nor refuse a cleartext request, so a password
// (a hook's, a passfile's: the configuration's was judged at sql.Open)
// does not go to a server whose identity is not verified. It records and
// returns the refusal, or audits what audit mode lets through.
func (c *PQConfig) passwordCheck(t *core.PQTarget, rec *core.Recorder) error {
	refusal, unbound := core.Pass(c.Policy, core.Check{Stage: core.StageCredential, Credential: core.CredentialUnbound, Target: t.Target})
	if refusal != nil {
		rec.Reject(refusal)
		return refusal
	}
	for _, v := range unbound {
		rec.Audit(v)
	}
	return nil
}

// pqConnect is conn.Connect, recovering what lib/pq's startup does with a
// malformed message from the server: it panics (an index out of range, a
// missing string terminator), and nothing in lib/pq recovers there. The
// connection is discarded; the process lives.
func pqConnect(ctx context.Context, conn *pq.Connector) (dc driver.Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			dc, err = nil, errMalformedStartup
		}
	}()
	return conn.Connect(ctx)
}

var errMalformedStartup = errors.New("securepg: the server sent a malformed message before the session started (lib/pq could not read it)")

// noPassfile is a passfile path that cannot exist (a path under a file),
// so that lib/pq never opens one itself.
const noPassfile = "/dev/null/securepg-reads-the-passfile"

// pqPassfile finds the password for cfg's host in the passfile, as lib/pq
// would.
func pqPassfile(ctx context.Context, cfg pq.Config) (string, error) {
	b, err := readPassfile(ctx, cfg)
	return passfileEntry(b, cfg), err
}

// readPassfile reads the passfile lib/pq would (cfg.Passfile, else
// ~/.pgpass; not one with group or world access) within ctx and only as a
// regular file; nil when lib/pq would read none.
func readPassfile(ctx context.Context, cfg pq.Config) ([]byte, error) {
	path := cfg.Passfile
	if path == "" {
		home := core.UserHome(core.DriverPQ)
		if home == "" {
			return nil, nil
		}
		path = filepath.Join(home, ".pgpass")
	}
	st, err := os.Stat(path)
	// lib/pq's own test, 0x77 (0o167: owner execute and group or world
	// read/write, but not group execute): what lib/pq reads itself at a
	// listener's reconnect must be what securepg judged.
	if err != nil || st.Mode().Perm()&0x77 != 0 {
		return nil, nil // absent, or ignored as lib/pq ignores an open passfile
	}
	b, err := core.ReadRegularFile(ctx, path, core.MaxPasswordFileSize)
	if err != nil {
		return nil, fmt.Errorf("securepg: passfile: %w", err)
	}
	return b, nil
}

// passfileEntry is the password of passfile b's first entry for cfg's
// host, port, database and user, or "".
func passfileEntry(b []byte, cfg pq.Config) string {
	host := cfg.Host
	socket := host == "" || isUnixHost(host)
	port, db := strconv.Itoa(int(cfg.Port)), cfg.Database
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		f := passfileFields(line)
		if len(f) == 5 && (f[0] == "*" || f[0] == host || f[0] == "localhost" && socket) &&
			(f[1] == "*" || f[1] == port) && (f[2] == "*" || f[2] == db) && (f[3] == "*" || f[3] == cfg.User) {
			return f[4]
		}
	}
	return ""
}

// passfileFields splits a passfile line on ':', with '\' escapes.
func passfileFields(s string) []string {
	var out []string
	var f []rune
	esc := false
	for _, c := range s {
		switch {
		case esc:
			f, esc = append(f, c), false
		case c == '\\':
			esc = true
		case c == ':':
			out, f = append(out, string(f)), f[:0]
		default:
			f = append(f, c)
		}
	}
	return append(out, string(f))
}

// pqHome is lib/pq's ~/.postgresql.
func pqHome() string {
	if home := core.UserHome(core.DriverPQ); home != "" {
		return filepath.Join(home, ".postgresql")
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func pqTLS(v pq.SSLProtocolVersion) uint16 {
	n, _ := core.ParseTLSVersionName(string(v))
	return n
}
