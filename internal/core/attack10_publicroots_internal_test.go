package core

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
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

// TestAttack10RootFileAtMaxSize: the end-to-end cost of one root file of
// MaxKeyFileSize bytes (what securepg accepts) of same-name certificates,
// read as the policy's SECUREPG_SSLROOTCERT is (ParseRoots, at
// sql.Open/NewConnector and again at each rotation): pgx's own parse of
// the same file takes milliseconds.
func TestAttack10RootFileAtMaxSize(t *testing.T) {
	if testing.Short() {
		t.Skip("generates certificates")
	}
	file, n := attack10SameNameCerts(t, MaxKeyFileSize)
	start := time.Now()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(file)
	parse := time.Since(start)
	start = time.Now()
	if _, err := ParseRoots([][]byte{file}); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("%d certificates (%d bytes): parse %v, ParseRoots %v", n, len(file), parse, d)
	if d > 2*time.Second {
		t.Fatalf("ParseRoots of a %d-byte root file (%d certificates of one subject name) took %v; parsing it takes %v", len(file), n, d, parse)
	}
}

// TestAttack10RotatedRootFileIgnoresTheContext: a CA bundle is followed
// on disk (Material.Get/Refresh at each connect). When it is rotated to a
// bundle of same-name certificates, the connect that notices re-parses it
// under the material's mutex, in ParseRoots, with no look at the caller's
// context: a connect with a 200 ms deadline waits for the whole parse,
// and so does every other connect of the process behind the mutex.
func TestAttack10RotatedRootFileIgnoresTheContext(t *testing.T) {
	if testing.Short() {
		t.Skip("generates certificates")
	}
	dir := t.TempDir()
	path := dir + "/root.crt"
	first, _ := attack10SameNameCerts(t, 2<<10)
	if err := writeFileAtomic(path, first); err != nil {
		t.Fatal(err)
	}
	m := NewMaterial("root certificates", ParseRoots, path)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	hostile, n := attack10SameNameCerts(t, 512<<10)
	if err := writeFileAtomic(path, hostile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	m.Refresh(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a connect with a 200 ms deadline waited %v for a rotated root file of %d bytes (%d certificates of one name)", d, len(hostile), n)
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
