package securepg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
)

// hookSet is what a connector calls around connections and queries.
type hookSet struct {
	sets      []hooks.Hooks
	providers []hooks.CredentialProvider
	builtin   int  // providers of securepg's own before the user's (the password file)
	query     bool // some set observes queries
	args      bool // some set wants argument values
	after     bool // some set has an AfterConnect hook
	log       *slog.Logger
}

func newHookSet(sets []hooks.Hooks, providers []hooks.CredentialProvider, passwordPath string) *hookSet {
	h := &hookSet{sets: sets}
	if passwordPath != "" {
		h.providers, h.builtin = []hooks.CredentialProvider{&passwordFile{path: passwordPath}}, 1
	}
	h.providers = append(h.providers, providers...)
	for _, s := range sets {
		h.query = h.query || s.BeforeQuery != nil || s.AfterQuery != nil
		h.after = h.after || s.AfterConnect != nil
		h.args = h.args || s.QueryArgs
	}
	return h
}

func (h *hookSet) logger() *slog.Logger { return cmp.Or(h.log, slog.Default()) }

// callHook runs the hook f of set i, wraps its error in a *hooks.Error and
// turns a panic into one (a panic value is shown by its type only, unless
// it is an error, which errors.Is finds).
func callHook[T any](name string, i int, f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			cause, ok := r.(error)
			if !ok {
				cause = fmt.Errorf("panic with a %T value", r)
			}
			err = &hooks.Error{Hook: name, Index: i, Panic: true, Err: cause}
		}
	}()
	v, err = f()
	var he *hooks.Error
	if err != nil && !(errors.As(err, &he) && he.Hook == name && he.Index == i) {
		err = &hooks.Error{Hook: name, Index: i, Err: err}
	}
	return v, err
}

// runHook calls f, hook name of set i, through callHook and bounded.
func runHook(ctx context.Context, name string, i int, f func() error) error {
	_, err := bounded(ctx, func() (struct{}, error) {
		return callHook(name, i, func() (struct{}, error) { return struct{}{}, f() })
	})
	return err
}

// bounded runs f, and stops waiting for it when ctx ends. f must not
// panic (callHook recovers).
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

func (h *hookSet) afterConnect(ctx context.Context, info hooks.ConnInfo) error {
	for i, s := range h.sets {
		if s.AfterConnect != nil {
			if err := runHook(ctx, "AfterConnect", i, func() error { return s.AfterConnect(ctx, info) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// onViolation tells every OnViolation hook; a panic is logged, as nothing
// waits for an error.
func (h *hookSet) onViolation(ctx context.Context, v *core.Violation, outcome string) {
	pub := v.Public(outcome)
	for i, s := range h.sets {
		if s.OnViolation == nil {
			continue
		}
		hv := *pub // each set its own copy: one cannot change what the next hears
		if err := runHook(ctx, "OnViolation", i, func() error { s.OnViolation(ctx, &hv); return nil }); err != nil {
			h.logger().LogAttrs(ctx, slog.LevelError, "securepg: hook failed", slog.String("error", core.SafeText(err.Error())))
		}
	}
}

// authFailed tells caching providers that the server rejected credentials.
func (h *hookSet) authFailed(ctx context.Context, a hooks.Attempt) {
	for i, p := range h.providers {
		if af, ok := p.(hooks.AuthFailureHandler); ok {
			_ = runHook(ctx, "AuthFailed", i-h.builtin, func() error { af.AuthFailed(ctx, a); return nil })
		}
	}
}

// connInfo describes a validated connection to the AfterConnect hooks.
func connInfo(f core.Facts, a hooks.Attempt) hooks.ConnInfo {
	if f.Host != "" {
		a.Host = f.Host
	}
	a.Port, a.SSLMode = int(f.Port), f.Mode.String()
	info := hooks.ConnInfo{Attempt: a, Network: f.Network, TLS: f.TLS, Version: f.Version, CipherSuite: f.CipherSuite,
		CurveID: f.CurveID, HybridPQ: core.IsHybridPQ(f.CurveID), PeerCertificates: f.PeerCertificates, AuthMethod: f.Auth, ChannelBinding: f.ChannelBinding, Superuser: f.Superuser == "on",
		LoopbackPlaintext: f.LoopbackPlaintext}
	if f.TLS {
		info.Verification = f.Verify.String()
	}
	if f.Server != nil {
		ssl := f.Server.SSL
		info.ServerSSL, info.ServerViaPooler = &ssl, f.Server.ViaPooler
	}
	return info
}
