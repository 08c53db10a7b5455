package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// credentials resolves the credentials of one connection to one host from
// the providers, later ones taking precedence, then runs the BeforeConnect
// hooks, which may fail the attempt. nil means the configured ones. Each
// call is bounded by ctx (one that does not return in time is left to
// finish on its own).
func (h *hookSet) credentials(ctx context.Context, a hooks.Attempt) (*hooks.Credentials, error) {
	var creds *hooks.Credentials
	for i, p := range h.providers {
		c, err := bounded(ctx, func() (hooks.Credentials, error) { return h.callProvider(ctx, p, a, i) })
		if err != nil {
			return nil, err
		}
		if creds != nil && c.User == "" {
			c.User = creds.User // a later provider's password keeps an earlier one's user
		}
		creds = &c
	}
	for i, s := range h.sets {
		if s.BeforeConnect != nil {
			if err := runHook(ctx, "BeforeConnect", i, func() error { return s.BeforeConnect(ctx, a) }); err != nil {
				return nil, err
			}
		}
	}
	return creds, nil
}

// callProvider asks provider i; the password file's own errors name its
// variable and are not wrapped as a hook's.
func (h *hookSet) callProvider(ctx context.Context, p hooks.CredentialProvider, a hooks.Attempt, i int) (hooks.Credentials, error) {
	if pf, ok := p.(*passwordFile); ok {
		return pf.Credentials(ctx, a)
	}
	return callHook("CredentialProvider", i-h.builtin, func() (hooks.Credentials, error) { return p.Credentials(ctx, a) })
}

// usedCreds are the credentials one Connect resolved, per host: each host
// is asked for once, and its own credentials go to it alone.
type usedCreds struct {
	mu sync.Mutex
	m  map[string]*hooks.Credentials
}

// credsKey names the server a credential is for: its host name, or the
// address dialed when there is none, and the port.
func credsKey(t core.Target) string {
	return t.Host + "\x00" + t.Hostaddr + "\x00" + strconv.Itoa(int(t.Port))
}

func (u *usedCreds) get(t core.Target) (*hooks.Credentials, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.m[credsKey(t)]
	return c, ok
}

// credsFunc resolves the credentials of each host a Connect call tries,
// once per host, with that host's name in the hooks.Attempt.
func (c *connector) credsFunc(used *usedCreds) core.CredsFunc {
	return func(ctx context.Context, t core.Target) (*core.Creds, error) {
		cr, ok := used.get(t)
		if !ok {
			var err error
			if cr, err = c.hooks.credentials(ctx, c.attempt(t)); err != nil {
				return nil, err
			}
			used.mu.Lock()
			if used.m == nil {
				used.m = map[string]*hooks.Credentials{}
			}
			used.m[credsKey(t)] = cr
			used.mu.Unlock()
		}
		if cr == nil {
			return nil, nil
		}
		return &core.Creds{User: cr.User, Password: cr.Password}, nil
	}
}

// isAuthFailure reports a server's rejection of the credentials.
func isAuthFailure(err error) bool {
	s := telemetry.SQLState(err)
	return s == "28P01" || s == "28000"
}

// recycleAt is when a connection made with credentials that expire at
// expires must stop being reused: a tenth of their remaining life, at most
// a minute, before they expire.
func recycleAt(expires, now time.Time) time.Time {
	if expires.IsZero() {
		return time.Time{}
	}
	return expires.Add(-min(expires.Sub(now)/10, time.Minute))
}

// expiresKey holds a pgx connection's recycle time in its CustomData.
const expiresKey = "securepg.recycle_at"

// pgxResetSession discards pgx connections whose credentials are about to
// expire (stdlib.OptionResetSession).
func pgxResetSession(_ context.Context, c *pgx.Conn) error {
	if at, ok := c.PgConn().CustomData()[expiresKey].(time.Time); ok && !at.IsZero() && !time.Now().Before(at) {
		return driver.ErrBadConn
	}
	return nil
}

// passwordFile is SECUREPG_PASSWORD_FILE, the first credential provider,
// read for every new connection: only a regular file (symlinks followed,
// for a Kubernetes secret volume) of at most 64 KiB; while it is missing
// or empty, the last password read is used.
type passwordFile struct {
	path string
	mu   sync.Mutex
	last string
}

// Credentials implements hooks.CredentialProvider.
func (f *passwordFile) Credentials(ctx context.Context, _ hooks.Attempt) (hooks.Credentials, error) {
	pw, err := f.read(ctx)
	return hooks.Credentials{Password: pw}, err
}

func (f *passwordFile) read(ctx context.Context) (string, error) {
	b, err := core.ReadRegularFile(ctx, f.path, core.MaxPasswordFileSize)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		if pw := strings.TrimRight(string(b), "\r\n"); pw != "" {
			f.last = pw
			return pw, nil
		}
		err = errEmptyFile
	}
	if f.last != "" && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, errEmptyFile)) {
		return f.last, nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "", fmt.Errorf("securepg: %s=%s: cannot read the password: %w", core.EnvPasswordFile, core.SafeText(f.path), err)
}

var errEmptyFile = errors.New("the file is empty")
