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
	k := newPKI(t)
	pk, qk := k.key(), k.key()
	public := k.issue(caTemplate("Public Root"), nil, &pk.PublicKey, pk)    // in the "system" store
	unknown := k.issue(caTemplate("Unknown Root"), nil, &qk.PublicKey, qk)  // in no store
	cross := k.issue(caTemplate("Public Root"), unknown, &pk.PublicKey, qk) // Public Root's key, signed by Unknown Root
	k.write("system.pem", public)
	k.write("rootfile.pem", cross)
	k.leaf("evil.example", public, pk)
	k.runChild("TestPublicCAFoundAtHandshake", "SECUREPG_TEST_PUBLIC_CA")
}

// pki makes certificates for tests that need a CA of their own as the
// system's roots: the test runs itself again in a child process whose
// system store (SSL_CERT_FILE) is the PKI's system.pem.
type pki struct {
	t      *testing.T
	dir    string
	serial int64
}

func newPKI(t *testing.T) *pki { return &pki{t: t, dir: t.TempDir(), serial: 1} }

func (k *pki) key() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		k.t.Fatal(err)
	}
	return key
}

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
}

// issue signs tmpl with signer as parent (itself when parent is nil).
func (k *pki) issue(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	k.serial++
	tmpl.SerialNumber = big.NewInt(k.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		k.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		k.t.Fatal(err)
	}
	return c
}

// write puts certs in a PEM file of the PKI's directory.
func (k *pki) write(name string, certs ...*x509.Certificate) string {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		k.t.Fatal(err)
	}
	return p
}

// leaf issues the impostor's server certificate for cn (leaf.pem and
// leaf.key; the impostor sends it alone, without intermediates).
func (k *pki) leaf(cn string, parent *x509.Certificate, signer *ecdsa.PrivateKey) {
	lk := k.key()
	leaf := k.issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, parent, &lk.PublicKey, signer)
	k.write("leaf.pem", leaf)
	der, err := x509.MarshalECPrivateKey(lk)
	if err != nil {
		k.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.dir, "leaf.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		k.t.Fatal(err)
	}
}

// runChild runs test again in a child process whose system roots are
// system.pem, with env naming the PKI's directory.
func (k *pki) runChild(test, env string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(k.dir, "system.pem"), "SSL_CERT_DIR="+filepath.Join(k.dir, "none"),
		env+"="+k.dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		k.t.Fatalf("child: %v\n%s", err, out)
	}
}

// leafCert is the impostor's certificate the PKI wrote.
func leafCert(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf.key"))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestRotatedPublicCAIsNotAnIdentity: the root file holds a private CA at
// sql.Open, and is then rotated to a bundle that adds a public
// intermediate CA. An impostor with a certificate from that intermediate
// (sent alone, so its chain does not reach the system roots by itself)
// passes verify-ca against the new bundle; the bundle's version is judged
// public, so the password protection applies as it would have at
// sql.Open, on both backends, for the DSN's and the org's root file.
func TestRotatedPublicCAIsNotAnIdentity(t *testing.T) {
	if dir := os.Getenv("SECUREPG_TEST_ROTATED_PUBLIC"); dir != "" {
		rotatedPublicChild(t, dir)
		return
	}
	k := newPKI(t)
	pk, ik, ok := k.key(), k.key(), k.key()
	public := k.issue(caTemplate("Public Root"), nil, &pk.PublicKey, pk)
	inter := k.issue(caTemplate("Public Intermediate"), public, &ik.PublicKey, pk)
	private := k.issue(caTemplate("Org Private Root"), nil, &ok.PublicKey, ok)
	k.write("system.pem", public)
	k.write("private.pem", private)
	k.write("rotated.pem", private, inter)
	k.leaf("evil.example", inter, ik)
	k.runChild("TestRotatedPublicCAIsNotAnIdentity", "SECUREPG_TEST_ROTATED_PUBLIC")
}

func rotatedPublicChild(t *testing.T, dir string) {
	cert := leafCert(t, dir)
	const password = "Zq7-rotated-public"
	for _, run := range []string{"pgx", "pq", "pgx-org-root", "pq-org-root"} {
		drv, org := strings.CutSuffix(run, "-org-root")
		t.Run(run, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
			vol := newVolume(t, map[string][]byte{"ca.crt": readFile(t, filepath.Join(dir, "private.pem"))})
			imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, "", cert)
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close()
			dsn := "host=localhost port=" + imp.PortString() + " user=app password=" + password + " dbname=app sslmode=verify-ca"
			if org {
				t.Setenv("SECUREPG_SSLROOTCERT", vol.Path("ca.crt"))
			} else {
				dsn += " sslrootcert=" + vol.Path("ca.crt")
			}
			c, err := connectorFor(drv, dsn, securepg.WithLogger(discardLogger()))
			if err != nil {
				t.Fatalf("a private root at sql.Open: %v", err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			publish(t, vol, map[string][]byte{"ca.crt": readFile(t, filepath.Join(dir, "rotated.pem"))})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = db.PingContext(ctx)
			cancel()
			requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
			if got := harvested(imp, password); len(got) > 0 {
				t.Fatalf("the impostor got %s", strings.Join(got, ", "))
			}
		})
	}
}

// publicCAChild runs with the test's public root as the only system root.
func publicCAChild(t *testing.T, dir string) {
	cert := leafCert(t, dir)
	const password = "Zq7-public-ca"
	for _, drv := range []string{"pgx", "pq"} {
		for _, optOut := range []bool{false, true} {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
			if optOut {
				t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
			}
			imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, "", cert)
			if err != nil {
				t.Fatal(err)
			}
			c, err := connectorFor(drv, "host=localhost port="+imp.PortString()+" user=app password="+password+" dbname=app sslmode=verify-ca sslrootcert="+filepath.Join(dir, "rootfile.pem"),
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

// TestPublicCAWhereverTheRootFileComesFrom: the same root file holding a
// public intermediate (whose leaf the impostor sends alone) is judged
// public wherever the driver found it: the DSN's sslrootcert, PGSSLROOTCERT,
// or the driver's own default ~/.postgresql/root.crt (with the DSN's
// sslmode, or none: the policy's minimum), and a service file that names
// it after another section of the same name. The password goes nowhere,
// on both backends.
func TestPublicCAWhereverTheRootFileComesFrom(t *testing.T) {
	if dir := os.Getenv("SECUREPG_TEST_ROOT_ORIGIN"); dir != "" {
		rootOriginChild(t, dir)
		return
	}
	k := newPKI(t)
	pk, ik, ok := k.key(), k.key(), k.key()
	public := k.issue(caTemplate("Public Root"), nil, &pk.PublicKey, pk)
	inter := k.issue(caTemplate("Public Intermediate"), public, &ik.PublicKey, pk)
	k.write("system.pem", public)
	k.write("bundle.pem", inter)
	k.write("private.pem", k.issue(caTemplate("Org Private Root"), nil, &ok.PublicKey, ok))
	k.leaf("evil.example", inter, ik)
	k.runChild("TestPublicCAWhereverTheRootFileComesFrom", "SECUREPG_TEST_ROOT_ORIGIN")
}

func rootOriginChild(t *testing.T, dir string) {
	cert := leafCert(t, dir)
	const password = "Zq7-root-origin"
	bundle := filepath.Join(dir, "bundle.pem")
	for _, drv := range []string{"pgx", "pq"} {
		for _, origin := range []string{"DSN", "PGSSLROOTCERT", "home", "home-no-sslmode", "service"} {
			t.Run(drv+"/"+origin, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
				imp, err := pglab.NewAuthImpostor(pglab.AskCleartext, "", cert)
				if err != nil {
					t.Fatal(err)
				}
				defer imp.Close()
				dsn := "host=localhost port=" + imp.PortString() + " user=app password=" + password + " dbname=app"
				if origin != "home-no-sslmode" {
					dsn += " sslmode=verify-ca"
				}
				switch origin {
				case "DSN":
					dsn += " sslrootcert=" + bundle
				case "PGSSLROOTCERT":
					t.Setenv("PGSSLROOTCERT", bundle)
				case "home", "home-no-sslmode":
					home := os.Getenv("HOME")
					if err := os.MkdirAll(filepath.Join(home, ".postgresql"), 0o700); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(home, ".postgresql", "root.crt"), readFile(t, bundle), 0o600); err != nil {
						t.Fatal(err)
					}
				case "service":
					// pgx reads the last section of a name, lib/pq the
					// first: the one each reads names no root file, so
					// PGSSLROOTCERT's public bundle is used; the other
					// section names a private root.
					t.Setenv("PGSSLROOTCERT", bundle)
					file := filepath.Join(t.TempDir(), "pg_service.conf")
					read, other := "sslmode=verify-ca", "sslrootcert="+filepath.Join(dir, "private.pem")
					text := "[s]\n" + other + "\n[s]\n" + read + "\n"
					if drv == "pq" {
						text = "[s]\n" + read + "\n[s]\n" + other + "\n"
					}
					if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
						t.Fatal(err)
					}
					t.Setenv("PGSERVICEFILE", file)
					dsn += " service=s"
				}
				c, err := connectorFor(drv, dsn, securepg.WithLogger(discardLogger()))
				if err == nil {
					db := sql.OpenDB(c)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err = db.PingContext(ctx)
					cancel()
					db.Close()
				}
				requireReason(t, err, securepg.ReasonPasswordUnverifiedServer)
				if got := harvested(imp, password); len(got) > 0 {
					t.Fatalf("the impostor got %s", strings.Join(got, ", "))
				}
			})
		}
	}
}
