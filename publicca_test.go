package securepg_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestPublicCAFoundAtHandshake: a root file whose public CA no file check
// recognises — here the public root's key cross-signed by an unknown CA —
// still lets any certificate that public CA issued pass verify-ca. The
// handshake tells: the server's certificate chains to the system roots,
// so under verify-ca it proves no identity, and the password protection
// applies. The system roots are the process's (SSL_CERT_FILE), so the
// test runs itself again in a child process with a system store of its
// making.
func TestPublicCAFoundAtHandshake(t *testing.T) {
	if dir := os.Getenv("SECUREPG_TEST_PUBLIC_CA"); dir != "" {
		publicCAChild(t, dir)
		return
	}
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
	}
	write := func(name string, certs ...*x509.Certificate) string {
		var b []byte
		for _, c := range certs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pk, qk, lk := key(), key(), key()
	public := issue(ca("Public Root"), nil, &pk.PublicKey, pk)    // in the "system" store
	unknown := issue(ca("Unknown Root"), nil, &qk.PublicKey, qk)  // in no store
	cross := issue(ca("Public Root"), unknown, &pk.PublicKey, qk) // Public Root's key, signed by Unknown Root
	leaf := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "evil.example"}, DNSNames: []string{"evil.example"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, public, &lk.PublicKey, pk)
	write("system.pem", public)
	write("rootfile.pem", cross)
	write("leaf.pem", leaf)
	lkDER, err := x509.MarshalECPrivateKey(lk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "leaf.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: lkDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPublicCAFoundAtHandshake$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(dir, "system.pem"), "SSL_CERT_DIR="+filepath.Join(dir, "none"),
		"SECUREPG_TEST_PUBLIC_CA="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPublicCAFoundAtHandshake") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// publicCAChild runs with the test's public root as the only system root.
func publicCAChild(t *testing.T, dir string) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf.key"))
	if err != nil {
		t.Fatal(err)
	}
	const password = "Zq7-public-ca"
	for _, drv := range []string{"pgx", "pq"} {
		for _, optOut := range []bool{false, true} {
			isolateEnv(t)
			t.Setenv("SECUREPG_DRIVER", drv)
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
			if optOut {
				t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
			}
			imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, "", cert)
			if err != nil {
				t.Fatal(err)
			}
			c, err := securepg.NewConnector("host=localhost port="+imp.PortString()+" user=app password="+password+" dbname=app sslmode=verify-ca sslrootcert="+filepath.Join(dir, "rootfile.pem"),
				securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatalf("%s: the file check took the cross-signed root for public, so this test proves nothing: %v", drv, err)
			}
			db := sql.OpenDB(c)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
			imp.Close()
			got := harvested(imp, password)
			switch {
			case optOut && len(got) == 0:
				t.Fatalf("%s, protection off: the impostor got nothing, so the chain did not validate: %v", drv, err)
			case !optOut:
				requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
				if len(got) > 0 {
					t.Fatalf("%s: the impostor got %s", drv, strings.Join(got, ", "))
				}
			}
		}
	}
}
