package core

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
)

// rotation is one file in a Kubernetes-style secret volume.
type rotation struct {
	t    *testing.T
	v    *lab.SecretVolume
	name string
}

func newRotation(t *testing.T, name string, content []byte) *rotation {
	v, err := lab.NewSecretVolume(t.TempDir(), map[string][]byte{name: content})
	must(t, err)
	return &rotation{t: t, v: v, name: name}
}

func (r *rotation) path() string { return r.v.Path(r.name) }

// swap publishes content as a new version, atomically.
func (r *rotation) swap(content []byte) { must(r.t, r.v.Publish(map[string][]byte{r.name: content})) }

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func pemOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func genCerts(t *testing.T) *lab.Certs {
	t.Helper()
	c, err := lab.GenerateCerts(t.TempDir())
	must(t, err)
	return c
}

// verifies tells whether pool verifies c's server certificate.
func verifies(r *Roots, c *lab.Certs) bool {
	if r == nil {
		return false
	}
	_, err := verifyChain([]*x509.Certificate{c.Server.Leaf}, r.Pool, "localhost")
	return err == nil
}

// TestMaterialFollowsRotation: a CA bundle rotated by a symlink swap is
// used for new connections, looked at no more than once a second (or at
// once by Refresh, after a failed verification); a file that is missing or
// half written for a moment keeps the last good version and is reported
// once; a file that stays garbage fails closed, naming the file.
func TestMaterialFollowsRotation(t *testing.T) {
	a, b := genCerts(t), genCerts(t)
	r := newRotation(t, "ca.crt", pemOf(t, a.CAFile))
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	var stale []string
	m := NewMaterial("root certificates", ParseRoots, r.path())
	m.now = clk.now
	m.OnStale = func(path string, err error) { stale = append(stale, path+": "+err.Error()) }
	ctx := context.Background()
	must(t, m.Load(ctx))
	get := func() *Roots {
		t.Helper()
		p, err := m.Get(ctx)
		must(t, err)
		return p
	}

	// Rotated: not seen within the second, seen after it.
	r.swap(pemOf(t, b.CAFile))
	clk.advance(500 * time.Millisecond)
	if !verifies(get(), a) {
		t.Fatal("looked at the file again within a second")
	}
	clk.advance(600 * time.Millisecond)
	if p := get(); !verifies(p, b) || verifies(p, a) {
		t.Fatal("the rotated bundle is not used after a second")
	}

	// Refresh looks at once.
	r.swap(pemOf(t, a.CAFile))
	if p, err := m.Refresh(ctx); err != nil || !verifies(p, a) {
		t.Fatalf("Refresh did not pick up the rotation: %v", err)
	}

	// Missing for a while: the last good version, reported once.
	must(t, r.v.Unpublish())
	for range 5 {
		clk.advance(2 * time.Second)
		if !verifies(get(), a) {
			t.Fatal("a missing file lost the last good version")
		}
	}
	if len(stale) != 1 || !strings.Contains(stale[0], r.path()) {
		t.Fatalf("stale reports = %q, want one naming %s", stale, r.path())
	}
	r.swap(pemOf(t, b.CAFile))
	clk.advance(2 * time.Second)
	if !verifies(get(), b) {
		t.Fatal("the file came back and is not used")
	}

	// Half written (a rotation in progress): the last good version.
	r.swap([]byte("-----BEGIN CERTIFICATE-----\nMIIB"))
	clk.advance(2 * time.Second)
	if !verifies(get(), b) {
		t.Fatal("a half-written file replaced the last good version")
	}
	if len(stale) != 2 {
		t.Fatalf("stale reports = %d, want a second episode reported", len(stale))
	}
	// Still garbage after the grace period: fail closed, naming the file.
	clk.advance(garbageGrace)
	p, err := m.Get(ctx)
	if err == nil || p != nil || !strings.Contains(err.Error(), r.path()) || !strings.Contains(err.Error(), "root certificates") {
		t.Fatalf("garbage for %v: pool %v, err %v; want no pool and an error naming the file", garbageGrace, p != nil, err)
	}
	// Fixed: used again.
	r.swap(pemOf(t, a.CAFile))
	clk.advance(2 * time.Second)
	if !verifies(get(), a) {
		t.Fatal("a repaired file is not used")
	}
}

// TestClientCertificateMaterial: a certificate and its key rotated
// together are used together; a key that does not match the certificate
// (one file rotated before the other) keeps the last good pair.
func TestClientCertificateMaterial(t *testing.T) {
	a := genCerts(t)
	b := genCerts(t)
	cert := newRotation(t, "tls.crt", pemOf(t, a.Client.CertFile))
	key := newRotation(t, "tls.key", pemOf(t, a.Client.KeyFile))
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMaterial("client certificate", parsePgxKeyPair, cert.path(), key.path())
	m.now = clk.now
	ctx := context.Background()
	must(t, m.Load(ctx))
	leaf := func() []byte {
		t.Helper()
		c, err := m.Get(ctx)
		must(t, err)
		return c.Certificate[0]
	}
	if string(leaf()) != string(a.Client.Leaf.Raw) {
		t.Fatal("not the loaded certificate")
	}
	cert.swap(pemOf(t, b.Client.CertFile)) // the key is not there yet
	clk.advance(2 * time.Second)
	if string(leaf()) != string(a.Client.Leaf.Raw) {
		t.Fatal("a certificate without its key replaced the pair")
	}
	key.swap(pemOf(t, b.Client.KeyFile))
	clk.advance(2 * time.Second)
	if string(leaf()) != string(b.Client.Leaf.Raw) {
		t.Fatal("the rotated pair is not used")
	}
}

// TestMaterialWithdrawn: a bundle that is deleted, replaced by a file too
// large to read, or by garbage, and stays so beyond the grace period fails
// closed with an error naming the file: a withdrawn CA is not trusted
// forever.
func TestMaterialWithdrawn(t *testing.T) {
	a := genCerts(t)
	for _, tc := range []struct {
		name   string
		change func(path string)
	}{
		{"deleted", func(p string) { must(t, os.Remove(p)) }},
		{"too large", func(p string) { must(t, os.WriteFile(p, bytes.Repeat([]byte("x"), MaxKeyFileSize+1), 0o644)) }},
		{"garbage", func(p string) { must(t, os.WriteFile(p, []byte("garbage"), 0o644)) }},
		{"a directory", func(p string) { must(t, os.Remove(p)); must(t, os.Mkdir(p, 0o755)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ca.crt")
			must(t, os.WriteFile(p, pemOf(t, a.CAFile), 0o644))
			clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			m := NewMaterial("root certificates", ParseRoots, p)
			m.now = clk.now
			ctx := context.Background()
			must(t, m.Load(ctx))
			tc.change(p)
			clk.advance(2 * time.Second)
			if pool, err := m.Get(ctx); err != nil || !verifies(pool, a) {
				t.Fatalf("within the grace period: %v", err)
			}
			clk.advance(garbageGrace)
			pool, err := m.Get(ctx)
			if err == nil || pool != nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("after the grace period: pool %v, err %v; want none and an error naming the file", pool != nil, err)
			}
		})
	}
}

// TestMaterialRewrittenInPlace: a bundle rewritten in place with its size
// and modification time kept (cp -p, rsync -t, tar x) is read again.
func TestMaterialRewrittenInPlace(t *testing.T) {
	a, b := genCerts(t), genCerts(t)
	pa, pb := pemOf(t, a.CAFile), pemOf(t, b.CAFile)
	for len(pa) < len(pb) {
		pa = append(pa, '\n') // the same size: text outside PEM blocks is ignored
	}
	for len(pb) < len(pa) {
		pb = append(pb, '\n')
	}
	p := filepath.Join(t.TempDir(), "ca.crt")
	must(t, os.WriteFile(p, pa, 0o644))
	st, err := os.Stat(p)
	must(t, err)
	m := NewMaterial("root certificates", ParseRoots, p)
	ctx := context.Background()
	must(t, m.Load(ctx))
	must(t, os.WriteFile(p, pb, 0o644))
	must(t, os.Chtimes(p, st.ModTime(), st.ModTime()))
	pool, err := m.Refresh(ctx)
	must(t, err)
	if verifies(pool, a) || !verifies(pool, b) {
		t.Fatal("a bundle rewritten in place with its mtime kept was not read again")
	}
}
