package core

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"
)

// attack10SameNameCerts is a root file of n self-signed certificates that
// all carry one subject name (and no key identifiers), up to max bytes.
func attack10SameNameCerts(t testing.TB, max int) ([]byte, int) {
	var buf bytes.Buffer
	n := 0
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(n + 1)), Subject: pkix.Name{CommonName: "x"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if buf.Len()+len(b) > max {
			return buf.Bytes(), n
		}
		buf.Write(b)
		n++
	}
}

// countingVerify is x509's verification, counting its calls and the
// signature checks each may make: one per root of system whose subject is
// the certificate's issuer, when no intermediates are given.
type countingVerify struct {
	t             testing.TB
	system        *x509.CertPool
	names         map[string]int // the roots of system, by raw subject (nil: unknown)
	calls, checks int
}

func (v *countingVerify) verify(c *x509.Certificate, opts x509.VerifyOptions) error {
	v.calls++
	if opts.Roots != v.system || opts.Intermediates != nil {
		v.t.Fatalf("verified with roots %p (want the system's) and intermediates %v (want none)", opts.Roots, opts.Intermediates)
	}
	v.checks += v.names[string(c.RawIssuer)]
	return verifyOnly(c, opts)
}

// attack10Roots is a stand-in system store of n roots that all carry the
// subject name of attack10SameNameCerts' certificates, and one of them.
func attack10Roots(t testing.TB, n int) (*x509.CertPool, map[string]int, *attack10CA) {
	pool := x509.NewCertPool()
	names := map[string]int{}
	var root *attack10CA
	for range n {
		root = newAttack10CA(t, nil, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "x"} })
		pool.AddCert(root.cert)
		names[string(root.cert.RawSubject)]++
	}
	return pool, names, root
}

// TestAttack10RootFileAtMaxSize: a root file of MaxKeyFileSize bytes (what
// securepg accepts) of same-name certificates, read as the policy's
// SECUREPG_SSLROOTCERT is (ParseRoots, at sql.Open/NewConnector and again
// at each rotation), is judged with one verification per certificate, with
// no intermediates: the signature checks grow with the file, not with its
// square (x509 allowed itself 100 per certificate: 17 s). The cost itself
// is BenchmarkPublicRootsSameName's.
func TestAttack10RootFileAtMaxSize(t *testing.T) {
	file, n := attack10SameNameCerts(t, MaxKeyFileSize)
	certs := pemCertificates(file)
	if len(certs) != n {
		t.Fatalf("%d certificates parsed, %d written", len(certs), n)
	}

	// The system's store: no root has that name; none is public.
	if system, err := systemRoots(); err == nil {
		v := &countingVerify{t: t, system: system}
		if anyPublic(certs, system, v.verify) || v.calls != n {
			t.Fatalf("system roots: public, or %d verifications for %d certificates", v.calls, n)
		}
		r, err := ParseRoots([][]byte{file})
		if err != nil || r.Public {
			t.Fatalf("ParseRoots: %v, public %v; want a private bundle", err, r != nil && r.Public)
		}
	}

	// A store of 3 roots of that very name: at most 3 signature checks per
	// certificate, and one certificate a root signed is found, last.
	const k = 3
	system, names, root := attack10Roots(t, k)
	v := &countingVerify{t: t, system: system, names: names}
	if anyPublic(certs, system, v.verify) {
		t.Fatal("self-signed certificates of a root's name counted as public")
	}
	if v.calls != n || v.checks > k*n {
		t.Fatalf("%d certificates: %d verifications, %d signature checks; want %d and at most %d", n, v.calls, v.checks, n, k*n)
	}
	signed := newAttack10CA(t, root, nil)
	v = &countingVerify{t: t, system: system, names: names}
	if !anyPublic(append(certs, signed.cert), system, v.verify) || v.checks > k*(n+1) {
		t.Fatalf("a certificate a root signed, after %d others: not public, or %d signature checks", n, v.checks)
	}
}

// TestAttack10RotatedRootFileIgnoresTheContext: a CA bundle is followed
// on disk (Material.Get/Refresh at each connect). When it is rotated, the
// connect that notices parses the new version outside the material's
// mutex: a connect whose context ends gets the context's error at once,
// and every other connect gets the last good version meanwhile, not a wait
// behind the parse. The parse here blocks until released, as a slow one
// would.
func TestAttack10RotatedRootFileIgnoresTheContext(t *testing.T) {
	path := t.TempDir() + "/root.crt"
	must(t, writeFileAtomic(path, []byte("v1")))
	started, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	parse := func(data [][]byte) (string, error) {
		if string(data[0]) == "v2" {
			started <- struct{}{}
			<-release
		}
		return string(data[0]), nil
	}
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMaterial("root certificates", parse, path)
	m.now = clk.now
	must(t, m.Load(context.Background()))
	must(t, writeFileAtomic(path, []byte("v2")))

	// An ended context: its error, at once, though the parse goes on.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := m.Refresh(cancelled); !errors.Is(err, context.Canceled) || v != "" {
		t.Fatalf("Refresh with an ended context: %q, %v; want its error", v, err)
	}
	<-started

	// Other connects: the last good version, at once, then and later.
	for range 2 {
		if v, err := m.Get(context.Background()); v != "v1" || err != nil {
			t.Fatalf("Get during the parse: %q, %v; want the last good version", v, err)
		}
		clk.advance(2 * time.Second)
	}

	// A context that ends while Refresh waits: its error.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := m.Refresh(ctx); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh whose context ended: %v", err)
	}

	// Once parsed, the new version is everyone's.
	releaseOnce.Do(func() { close(release) })
	if v, err := m.Refresh(context.Background()); v != "v2" || err != nil {
		t.Fatalf("Refresh after the parse: %q, %v", v, err)
	}
	if v, err := m.Get(context.Background()); v != "v2" || err != nil {
		t.Fatalf("Get after the parse: %q, %v", v, err)
	}
}

// TestAttack10RotatedToSameNameRoots: the rotation to a large file of
// same-name certificates, end to end through ParseRoots: an ended context
// returns its error, and the bundle is then used, judged private.
func TestAttack10RotatedToSameNameRoots(t *testing.T) {
	path := t.TempDir() + "/root.crt"
	first, _ := attack10SameNameCerts(t, 2<<10)
	must(t, writeFileAtomic(path, first))
	m := NewMaterial("root certificates", ParseRoots, path)
	must(t, m.Load(context.Background()))
	old, _ := m.Get(context.Background())
	hostile, _ := attack10SameNameCerts(t, 512<<10)
	must(t, writeFileAtomic(path, hostile))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := m.Refresh(ctx); err != nil && !errors.Is(err, context.Canceled) || err == nil && r == old {
		t.Fatalf("Refresh with an ended context: %v", err)
	}
	r, err := m.Refresh(context.Background())
	if err != nil || r == old || r.Public {
		t.Fatalf("the rotated bundle: %v (new %v, public %v)", err, r != old, r != nil && r.Public)
	}
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// BenchmarkPublicRootsSameName is the cost of judging a root file of
// MaxKeyFileSize bytes of same-name certificates (the largest securepg
// reads): it must stay linear in the file, near the cost of parsing it.
func BenchmarkPublicRootsSameName(b *testing.B) {
	file, n := attack10SameNameCerts(b, MaxKeyFileSize)
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		PublicRoots(file)
	}
	b.ReportMetric(float64(n), "certs")
}

// attack10CA is a certificate and its key.
type attack10CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newAttack10CA is a CA certificate valid for an hour around now, signed
// by parent (nil: self-signed), as edit changes it.
func newAttack10CA(t testing.TB, parent *attack10CA, edit func(*x509.Certificate)) *attack10CA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: serial.String()},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	if edit != nil {
		edit(tmpl)
	}
	issuer, signer := tmpl, k
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &k.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &attack10CA{cert: c, key: k}
}

// publicWithIntermediates is PublicRoots as it was: each file certificate
// verified with the others as intermediates.
func publicWithIntermediates(certs []*x509.Certificate, system *x509.CertPool) bool {
	inter := x509.NewCertPool()
	for _, c := range certs {
		inter.AddCert(c)
	}
	for _, c := range certs {
		if _, err := c.Verify(x509.VerifyOptions{Roots: system, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
			return true
		}
	}
	return false
}

// TestPublicRootsAsWithIntermediates: judging each file certificate
// against the system roots alone gives the answer that verifying it with
// the file's certificates as intermediates gave, on chains that are
// public, private, or broken above the file (expired, a critical
// extension, name constraints, path lengths, a root's name on another
// key).
func TestPublicRootsAsWithIntermediates(t *testing.T) {
	ca := func(parent *attack10CA, edit func(*x509.Certificate)) *attack10CA {
		return newAttack10CA(t, parent, edit)
	}
	name := func(n string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: n} }
	}
	root := ca(nil, name("Public Root"))
	inter := ca(root, name("Public Inter"))
	sub := ca(inter, name("Public Sub"))
	leaf := ca(sub, func(c *x509.Certificate) { c.IsCA, c.KeyUsage = false, x509.KeyUsageDigitalSignature })
	rootLeaf := ca(root, func(c *x509.Certificate) { c.IsCA, c.KeyUsage = false, x509.KeyUsageDigitalSignature })
	private := ca(nil, nil)
	privateLeaf := ca(private, nil)
	expired := ca(root, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	})
	underExpired := ca(expired, nil)
	critical := ca(root, func(c *x509.Certificate) {
		c.ExtraExtensions = []pkix.Extension{{Id: []int{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}}}
	})
	underCritical := ca(critical, nil)
	constrained := ca(nil, func(c *x509.Certificate) { c.PermittedDNSDomains = []string{"example.com"} })
	outside := ca(constrained, func(c *x509.Certificate) { c.DNSNames = []string{"evil.test"} })
	underOutside := ca(outside, nil)
	noPath := ca(nil, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true })
	underNoPath := ca(noPath, nil)
	belowNoPath := ca(underNoPath, nil)
	spoof := ca(nil, name("Public Root")) // the root's name, another key
	var junk []*x509.Certificate
	for range 20 {
		junk = append(junk, ca(nil, name("Public Inter")).cert)
	}

	system := x509.NewCertPool()
	for _, r := range []*attack10CA{root, constrained, noPath} {
		system.AddCert(r.cert)
	}
	for _, tc := range []struct {
		name string
		file []*attack10CA
		junk bool
		want bool
	}{
		{"the root itself", []*attack10CA{root}, false, true},
		{"an intermediate", []*attack10CA{inter}, false, true},
		{"a sub-intermediate with its parent", []*attack10CA{sub, inter}, false, true},
		{"a sub-intermediate alone", []*attack10CA{sub}, false, false},
		{"a leaf and its chain", []*attack10CA{leaf, sub, inter}, false, true},
		{"a leaf a root signed", []*attack10CA{rootLeaf}, false, true},
		{"a private CA", []*attack10CA{privateLeaf, private}, false, false},
		{"an expired intermediate", []*attack10CA{underExpired, expired}, false, false},
		{"an unknown critical extension", []*attack10CA{underCritical, critical}, false, false},
		{"outside the root's name constraints", []*attack10CA{underOutside, outside}, false, false},
		{"within the root's path length", []*attack10CA{belowNoPath, underNoPath}, false, true},
		{"beyond the root's path length", []*attack10CA{belowNoPath}, false, false},
		{"the root's name on another key", []*attack10CA{spoof}, false, false},
		{"same-name certificates and a sub-intermediate", []*attack10CA{sub}, true, false},
		{"same-name certificates and a chain", []*attack10CA{sub, inter}, true, true},
	} {
		var certs []*x509.Certificate
		if tc.junk {
			certs = append(certs, junk...)
		}
		for _, c := range tc.file {
			certs = append(certs, c.cert)
		}
		got, was := anyPublic(certs, system, verifyOnly), publicWithIntermediates(certs, system)
		if got != tc.want || was != tc.want {
			t.Errorf("%s: public %v, with intermediates %v; want %v", tc.name, got, was, tc.want)
		}
	}
}

// TestPublicRootsFailsClosed: a verification that gives up (x509's limit
// of 100 signature checks, here a store of 101 roots of one name) counts
// as public, not as private: a false "private" would let verify-ca
// against a public CA stand for an identity.
func TestPublicRootsFailsClosed(t *testing.T) {
	system, _, _ := attack10Roots(t, 101)
	stranger := newAttack10CA(t, newAttack10CA(t, nil, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "x"} }), nil)
	if _, err := stranger.cert.Verify(x509.VerifyOptions{Roots: system}); err == nil || !gaveUp(err) {
		t.Fatalf("x509 no longer gives up the same way: %v", err)
	}
	if !anyPublic([]*x509.Certificate{stranger.cert}, system, verifyOnly) {
		t.Fatal("a verification that gave up counted as private")
	}
}

// BenchmarkPublicRootsIssuedByASystemName is the worst case of the linear
// judgement: a file of certificates that all name as issuer the system
// store's most repeated root name, so that each costs a failed signature
// check per root of that name.
func BenchmarkPublicRootsIssuedByASystemName(b *testing.B) {
	store, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		b.Skip("no Debian system bundle")
	}
	byName := map[string][]*x509.Certificate{}
	var worst []*x509.Certificate
	for _, c := range pemCertificates(store) {
		byName[string(c.RawSubject)] = append(byName[string(c.RawSubject)], c)
		if s := byName[string(c.RawSubject)]; len(s) > len(worst) {
			worst = s
		}
	}
	// Signed with a key of the roots' own type, so that each check is a
	// real one, not a mismatch of algorithms found for free.
	var k crypto.Signer
	switch pub := worst[0].PublicKey.(type) {
	case *rsa.PublicKey:
		k, err = rsa.GenerateKey(rand.Reader, pub.N.BitLen())
	case *ecdsa.PublicKey:
		k, err = ecdsa.GenerateKey(pub.Curve, rand.Reader)
	default:
		b.Skipf("a root key of type %T", pub)
	}
	if err != nil {
		b.Fatal(err)
	}
	small, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // the certificates' own key: as many as fit
	if err != nil {
		b.Fatal(err)
	}
	parent := &x509.Certificate{RawSubject: worst[0].RawSubject, SubjectKeyId: worst[0].SubjectKeyId}
	var file []byte
	for i := 1; ; i++ {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i)), Subject: pkix.Name{CommonName: "x"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &small.PublicKey, k)
		if err != nil {
			b.Fatal(err)
		}
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if len(file)+len(p) > MaxKeyFileSize {
			break
		}
		file = append(file, p...)
	}
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		if PublicRoots(file) {
			b.Fatal("public")
		}
	}
	b.ReportMetric(float64(len(worst)), "roots/name")
	b.ReportMetric(float64(len(pemCertificates(file))), "certs")
}

// TestMaterialLoadHonoursTheContext: the first read of a file (sql.Open,
// NewConnector) gives up with its context's error, not after the parse.
func TestMaterialLoadHonoursTheContext(t *testing.T) {
	path := t.TempDir() + "/root.crt"
	must(t, writeFileAtomic(path, []byte("v1")))
	release := make(chan struct{})
	defer close(release)
	m := NewMaterial("root certificates", func([][]byte) (string, error) { <-release; return "", nil }, path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Load(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Load whose context ended: %v", err)
	}
}
