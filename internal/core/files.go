package core

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits on what securepg reads from a file, which bound what a hostile path (/dev/zero) costs.
const (
	MaxKeyFileSize      = 1 << 20 // certificate bundles, certificates, keys
	MaxPasswordFileSize = 64 << 10
)

// ReadRegularFile reads path, following symlinks, only when it is a regular
// file of at most max bytes: a FIFO or a device is refused without
// blocking (it is opened non-blocking). Errors never hold the content.
func ReadRegularFile(ctx context.Context, path string, max int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, PathError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, PathError(err)
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	var b []byte
	if st.Size() <= max {
		if b, err = io.ReadAll(io.LimitReader(f, max+1)); err != nil {
			return nil, PathError(err)
		}
	}
	if st.Size() > max || int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", max)}
	}
	return b, nil
}

// PathError keeps the path and the operation of a file error but drops any
// content that a parser might have quoted.
func PathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(line)
}

// stamp identifies a version of a file without reading it.
type stamp struct {
	size  int64
	mtime time.Time
	ctime syscall.Timespec // changes with every write, rename or chmod; no tool sets it back
	ino   uint64
	ok    bool
}

func statStamp(path string) (stamp, error) {
	st, err := os.Stat(path) // follows a Kubernetes ..data symlink swap
	if err != nil {
		return stamp{}, err
	}
	s := stamp{size: st.Size(), mtime: st.ModTime(), ok: true}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.ino, s.ctime = sys.Ino, sys.Ctim
	}
	return s, nil
}

// changed is when the file last changed, as far as its stamp tells.
func (s stamp) changed() time.Time {
	if c := time.Unix(s.ctime.Unix()); c.After(s.mtime) {
		return c
	}
	return s.mtime
}

const (
	// recentlyChanged: a file changed this recently is read again at each
	// look, whatever its stamp.
	recentlyChanged = 2 * time.Second
	// recheckEvery: at most one stat per file per second, whatever the
	// connection rate.
	recheckEvery = time.Second
	// garbageGrace is how long a file may be missing, unreadable or
	// unparseable (a rotation in progress) before connections fail closed.
	garbageGrace = 10 * time.Second
)

// Material is key material that securepg reads from files itself: they
// are checked again at most once a second and re-read when they changed,
// so that a rotated certificate or CA bundle is used without a restart.
// For garbageGrace after a file goes missing or bad, the last good
// version is kept; then it fails closed, with an error naming the file.
// Make one with NewMaterial.
type Material[T any] struct {
	paths []string
	parse func([][]byte) (T, error)
	what  string // "root certificates", "client certificate", ...

	mu       sync.Mutex
	val      T
	stamps   []stamp
	checked  time.Time
	badSince time.Time // first failed parse of the current stamps
	err      error     // set when failing closed
	// OnStale, when set, hears once per episode that the last good
	// version is used.
	OnStale func(path string, err error)
	stale   bool
	now     func() time.Time // time.Now; tests move it
	// loading is the read and parse of a changed version under way, or
	// nil. It runs outside mu: a large bundle costs its parse to the
	// connect that noticed it (as long as its context allows), never the
	// connects that only want the current version.
	loading *load[T]
}

// load is one read and parse of the files, run by its own goroutine and
// awaited by the callers that want its result.
type load[T any] struct {
	done chan struct{} // closed once val and err are set
	val  T
	err  error
}

// NewMaterial is the material parse makes of the files at paths.
func NewMaterial[T any](what string, parse func([][]byte) (T, error), paths ...string) *Material[T] {
	return &Material[T]{paths: paths, parse: parse, what: what, stamps: make([]stamp, len(paths))}
}

// Watched makes m tell the policy's Logger (nil: slog.Default()) when it
// keeps a last good version.
func Watched[T any](p Policy, m *Material[T]) *Material[T] {
	what, l := m.what, p.Logger
	m.OnStale = func(path string, err error) {
		cmp.Or(l, slog.Default()).Warn("securepg: key file unreadable; new connections use its last good version",
			slog.String("what", what), slog.String("file", SafeText(path)), slog.String("error", SafeText(err.Error())))
	}
	return m
}

// Paths names the files m comes from.
func (m *Material[T]) Paths() []string { return m.paths }

// StaticMaterial holds material that never changes (inline PEM, the system roots).
func StaticMaterial[T any](what string, v T) *Material[T] {
	return &Material[T]{val: v, what: what, checked: farFuture}
}

var farFuture = time.Unix(1<<62, 0)

// Load reads the material the first time: with no last good version, any
// failure is an error, and so is ctx ending before the parse does.
func (m *Material[T]) Load(ctx context.Context) error {
	if len(m.paths) == 0 {
		return nil
	}
	stamps := make([]stamp, len(m.paths))
	data := make([][]byte, len(m.paths))
	for i, p := range m.paths {
		s, err := statStamp(p)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", m.what, PathError(err))
		}
		b, err := ReadRegularFile(ctx, p, MaxKeyFileSize)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", m.what, err)
		}
		stamps[i], data[i] = s, b
	}
	v, err := parseWithin(ctx, m.parse, data)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", m.what, SafeText(m.paths[0]), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.val, m.stamps, m.checked = v, stamps, m.clock()
	return nil
}

// parseWithin is parse(data), or ctx's error if ctx ends first (the
// parse then finishes unheard).
func parseWithin[T any](ctx context.Context, parse func([][]byte) (T, error), data [][]byte) (T, error) {
	type result struct {
		v   T
		err error
	}
	out := make(chan result, 1)
	go func() {
		v, err := parse(data)
		out <- result{v, err}
	}()
	select {
	case r := <-out:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Get returns the current material, looking at the files again after
// recheckEvery. While a changed version is being parsed, the last good
// one is returned at once; the connect that noticed the change waits for
// it, as long as ctx allows.
func (m *Material[T]) Get(ctx context.Context) (T, error) {
	m.mu.Lock()
	now := m.clock()
	if now.Sub(m.checked) < recheckEvery || m.loading != nil {
		defer m.mu.Unlock()
		return m.val, m.err
	}
	l, v, err := m.check(now)
	m.mu.Unlock()
	if l != nil {
		return m.await(ctx, l)
	}
	return v, err
}

// Refresh looks at the files now and returns the current material: after
// a verification failed, a rotated CA bundle is used at once. It waits for
// a parse under way (as long as ctx allows), then looks again: that parse
// may have begun before the rotation it is asked to find.
func (m *Material[T]) Refresh(ctx context.Context) (T, error) {
	m.mu.Lock()
	if m.checked.Equal(farFuture) { // static
		defer m.mu.Unlock()
		return m.val, m.err
	}
	if l := m.loading; l != nil {
		m.mu.Unlock()
		if v, err := m.await(ctx, l); ctx.Err() != nil {
			return v, err
		}
		m.mu.Lock()
	}
	l, v, err := m.check(m.clock())
	m.mu.Unlock()
	if l != nil {
		return m.await(ctx, l)
	}
	return v, err
}

func (m *Material[T]) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// check stats the files (m.mu held) and returns the material, or, when
// they changed, the load that reads and parses them: begun here, or the
// one already under way.
func (m *Material[T]) check(now time.Time) (*load[T], T, error) {
	var zero T
	if m.loading != nil {
		return m.loading, zero, nil
	}
	m.checked = now
	stamps := make([]stamp, len(m.paths))
	changed := false
	for i, p := range m.paths {
		s, err := statStamp(p)
		if err != nil {
			v, err := m.bad(now, p, err) // missing for a moment: the last good version
			return nil, v, err
		}
		stamps[i] = s
		// A rewrite in place within one timestamp tick keeps the stamp.
		changed = changed || s != m.stamps[i] || now.Sub(s.changed()) < recentlyChanged
	}
	if !changed && m.badSince.IsZero() {
		return nil, m.val, m.err
	}
	l := &load[T]{done: make(chan struct{})}
	m.loading = l
	go m.load(l, now, stamps)
	return l, zero, nil
}

// load reads and parses the files outside m.mu, then makes the result
// the current material (or a bad version, as check would have) and wakes
// the callers waiting for it. It uses no caller's context: its result is
// everyone's, and its cost is bounded by MaxKeyFileSize.
func (m *Material[T]) load(l *load[T], now time.Time, stamps []stamp) {
	data := make([][]byte, len(m.paths))
	var v T
	var err error
	failed := m.paths[0]
	for i, p := range m.paths {
		if data[i], err = ReadRegularFile(context.Background(), p, MaxKeyFileSize); err != nil {
			failed = p
			break
		}
	}
	if err == nil {
		v, err = m.parse(data)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		l.val, l.err = m.bad(now, failed, err)
	} else {
		m.val, m.stamps, m.err, m.badSince, m.stale = v, stamps, nil, time.Time{}, false
		l.val = v
	}
	m.loading = nil
	close(l.done)
}

// await is l's result, or an error wrapping ctx's once ctx ends first:
// the load goes on, and a later look finds its result.
func (m *Material[T]) await(ctx context.Context, l *load[T]) (T, error) {
	select {
	case <-l.done: // a result at hand wins over an ended context
		return l.val, l.err
	default:
	}
	select {
	case <-l.done:
		return l.val, l.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("securepg: %s in %s: %w", m.what, SafeText(m.paths[0]), ctx.Err())
	}
}

// bad handles a file that is missing, unreadable or unparseable: the last
// good version for garbageGrace (reported once), then it fails closed.
func (m *Material[T]) bad(now time.Time, path string, err error) (T, error) {
	if m.badSince.IsZero() {
		m.badSince = now
	}
	if now.Sub(m.badSince) >= garbageGrace {
		var zero T
		m.val = zero
		m.err = fmt.Errorf("securepg: %s in %s cannot be used: %w", m.what, SafeText(path), PathError(err))
		return m.val, m.err
	}
	if !m.stale && m.OnStale != nil && m.stamps[0].ok { // never loaded: not stale, absent
		m.OnStale(path, PathError(err))
	}
	m.stale = true
	return m.val, m.err
}

// Roots is one version of a CA bundle as securepg verifies with it.
type Roots struct {
	Pool *x509.CertPool
	// Public: the bundle holds a certificate the system roots vouch for,
	// so verify-ca against it proves no identity. Judged per version.
	Public bool
}

// ParseRoots reads a PEM bundle of trusted roots, once per content: the
// result is shared, and never changed.
func ParseRoots(data [][]byte) (*Roots, error) {
	return cachedRoots(data[0], func(pem []byte) (*Roots, error) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no PEM certificate")
		}
		return &Roots{Pool: pool, Public: PublicRoots(pem)}, nil
	})
}

// ParseKeyPair reads a certificate file and a key file.
func ParseKeyPair(data [][]byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(data[0], data[1])
	if err != nil {
		return nil, errors.New("the certificate and key do not form a pair, or are not PEM")
	}
	return &c, nil
}

// Intermediates returns the CA certificates of a PEM bundle that are not
// self-signed, as lib/pq appends them to the client certificate chain.
func Intermediates(bundle []byte) [][]byte {
	var out [][]byte
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err == nil && c.IsCA && !bytes.Equal(c.RawIssuer, c.RawSubject) {
			out = append(out, block.Bytes)
		}
	}
}
