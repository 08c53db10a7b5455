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
// failure is an error.
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
	v, err := m.parse(data)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", m.what, SafeText(m.paths[0]), err)
	}
	m.val, m.stamps, m.checked = v, stamps, m.clock()
	return nil
}

// Get returns the current material, looking at the files again after recheckEvery.
func (m *Material[T]) Get(ctx context.Context) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if now.Sub(m.checked) < recheckEvery {
		return m.val, m.err
	}
	return m.check(ctx, now)
}

// Refresh looks at the files now and returns the current material: after
// a verification failed, a rotated CA bundle is used at once.
func (m *Material[T]) Refresh(ctx context.Context) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checked.Equal(farFuture) { // static
		return m.val, m.err
	}
	return m.check(ctx, m.clock())
}

func (m *Material[T]) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

func (m *Material[T]) check(ctx context.Context, now time.Time) (T, error) {
	m.checked = now
	stamps := make([]stamp, len(m.paths))
	changed := false
	for i, p := range m.paths {
		s, err := statStamp(p)
		if err != nil {
			return m.bad(now, p, err) // missing for a moment: the last good version
		}
		stamps[i] = s
		// A rewrite in place within one timestamp tick keeps the stamp.
		changed = changed || s != m.stamps[i] || now.Sub(s.changed()) < recentlyChanged
	}
	if !changed && m.badSince.IsZero() {
		return m.val, m.err
	}
	data := make([][]byte, len(m.paths))
	for i, p := range m.paths {
		b, err := ReadRegularFile(ctx, p, MaxKeyFileSize)
		if err != nil {
			return m.bad(now, p, err)
		}
		data[i] = b
	}
	v, err := m.parse(data)
	if err != nil {
		return m.bad(now, m.paths[0], err)
	}
	m.val, m.stamps, m.err, m.badSince, m.stale = v, stamps, nil, time.Time{}, false
	return m.val, nil
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
