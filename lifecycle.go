package securepg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// hookSet is what a connector calls around connections and queries.
type hookSet struct {
	sets      []hooks.Hooks
	providers []hooks.CredentialProvider
	file      *passwordFile
	query     bool // some set observes queries
	args      bool // some set wants argument values
	log       *slog.Logger
}

func newHookSet(sets []hooks.Hooks, providers []hooks.CredentialProvider, path string) *hookSet {
	h := &hookSet{sets: sets, providers: providers}
	if path != "" {
		h.file = &passwordFile{path: path}
	}
	for _, s := range sets {
		h.query = h.query || s.BeforeQuery != nil || s.AfterQuery != nil
		h.args = h.args || s.QueryArgs
	}
	return h
}

// credentials resolves the credentials of one new connection to one host,
// in order of increasing precedence: SECUREPG_PASSWORD_FILE, the
// credential providers, the BeforeConnect hooks. nil means the configured
// ones (DSN, PGPASSWORD, passfile, as the driver reads them). Each hook is
// bounded by ctx: one that does not return in time fails the attempt with
// ctx's error (and is left to finish on its own).
func (h *hookSet) credentials(ctx context.Context, a hooks.Attempt) (*hooks.Credentials, error) {
	var creds *hooks.Credentials
	merge := func(c hooks.Credentials) {
		if creds != nil && c.User == "" {
			c.User = creds.User
		}
		creds = &c
	}
	if h.file != nil {
		pw, err := h.file.read(ctx)
		if err != nil {
			return nil, err
		}
		merge(hooks.Credentials{Password: pw})
	}
	for i, p := range h.providers {
		c, err := bounded(ctx, func() (hooks.Credentials, error) { return callProvider(ctx, p, a, i) })
		if err != nil {
			return nil, err
		}
		merge(c)
	}
	for i, s := range h.sets {
		if s.BeforeConnect == nil {
			continue
		}
		c, err := bounded(ctx, func() (*hooks.Credentials, error) { return callBeforeConnect(ctx, s.BeforeConnect, a, i) })
		if err != nil {
			return nil, err
		}
		if c != nil {
			merge(*c)
		}
	}
	return creds, nil
}

func callProvider(ctx context.Context, p hooks.CredentialProvider, a hooks.Attempt, i int) (c hooks.Credentials, err error) {
	defer hooks.Recover("CredentialProvider", i, &err)
	c, err = p.Credentials(ctx, a)
	return c, hooks.Wrap("CredentialProvider", i, err)
}

func callBeforeConnect(ctx context.Context, f func(context.Context, hooks.Attempt) (*hooks.Credentials, error), a hooks.Attempt, i int) (c *hooks.Credentials, err error) {
	defer hooks.Recover("BeforeConnect", i, &err)
	c, err = f(ctx, a)
	return c, hooks.Wrap("BeforeConnect", i, err)
}

// bounded runs f, and stops waiting for it when ctx ends. f must not
// panic (the call* helpers recover).
func bounded[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("securepg: a hook did not return before the connection's deadline: %w", ctx.Err())
	}
}

// usedCreds are the credentials one Connect resolved, per host: each host
// is asked for once, and its own credentials go to it alone.
type usedCreds struct {
	mu sync.Mutex
	m  map[string]*hooks.Credentials
}

func credsKey(t core.Target) string { return t.Host + "\x00" + strconv.Itoa(int(t.Port)) }

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
		used.mu.Lock()
		cr, ok := used.m[credsKey(t)]
		used.mu.Unlock()
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

func (h *hookSet) afterConnect(ctx context.Context, info hooks.ConnInfo) error {
	for i, s := range h.sets {
		if s.AfterConnect == nil {
			continue
		}
		if _, err := bounded(ctx, func() (struct{}, error) { return struct{}{}, callAfterConnect(ctx, s.AfterConnect, info, i) }); err != nil {
			return err
		}
	}
	return nil
}

func callAfterConnect(ctx context.Context, f func(context.Context, hooks.ConnInfo) error, info hooks.ConnInfo, i int) (err error) {
	defer hooks.Recover("AfterConnect", i, &err)
	return hooks.Wrap("AfterConnect", i, f(ctx, info))
}

// onViolation tells every OnViolation hook; a panic is logged, as nothing
// waits for an error.
func (h *hookSet) onViolation(ctx context.Context, log *slog.Logger, v *core.Violation, outcome string) {
	for i, s := range h.sets {
		if s.OnViolation == nil {
			continue
		}
		_, err := bounded(ctx, func() (struct{}, error) {
			return struct{}{}, func() (err error) {
				defer hooks.Recover("OnViolation", i, &err)
				s.OnViolation(ctx, hooks.Violation{Reason: v.Reason, Host: v.Host, Got: v.Got, Want: v.Want, Detail: v.Detail, Outcome: outcome})
				return nil
			}()
		})
		if err != nil {
			log.LogAttrs(ctx, slog.LevelError, "securepg: hook failed", slog.String("error", err.Error()))
		}
	}
}

// authFailed tells caching providers that the server rejected credentials.
func (h *hookSet) authFailed(ctx context.Context, a hooks.Attempt) {
	for i, p := range h.providers {
		if af, ok := p.(hooks.AuthFailureHandler); ok {
			bounded(ctx, func() (struct{}, error) {
				var err error
				defer hooks.Recover("AuthFailed", i, &err)
				af.AuthFailed(ctx, a)
				return struct{}{}, nil
			})
		}
	}
}

// isAuthFailure reports a server's rejection of the credentials.
func isAuthFailure(err error) bool {
	switch telemetry.SQLState(err) {
	case "28P01", "28000":
		return true
	}
	return false
}

// connInfo describes a validated connection to the AfterConnect hooks.
func connInfo(f core.Facts, a hooks.Attempt) hooks.ConnInfo {
	a.Host, a.Port, a.SSLMode = f.Host, int(f.Port), f.Mode.String()
	info := hooks.ConnInfo{Attempt: a, Network: f.Network, TLS: f.TLS, Version: f.Version, CipherSuite: f.CipherSuite,
		PeerCertificates: f.PeerCertificates}
	if f.TLS {
		info.Verification = f.Verify.String()
	}
	if f.Server != nil {
		ssl := f.Server.SSL
		info.ServerSSL = &ssl
	}
	return info
}

// recycleAt is when a connection made with credentials that expire at
// expires must stop being reused: a tenth of their remaining life, at most
// a minute, before they expire.
func recycleAt(expires, now time.Time) time.Time {
	if expires.IsZero() {
		return time.Time{}
	}
	margin := min(expires.Sub(now)/10, time.Minute)
	return expires.Add(-margin)
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

// passwordFile is SECUREPG_PASSWORD_FILE: read for every new connection,
// so a rotated secret is used without a restart. Reading the path follows
// a Kubernetes secret volume's ..data symlink, which is swapped
// atomically; if the file is missing for a moment, the last password read
// is used.
type passwordFile struct {
	path string
	mu   sync.Mutex
	last string
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
