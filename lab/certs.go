package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs are the test PKI, generated at run time so nothing expires: a CA,
// certificates it signs (server for localhost/127.0.0.1, wrong host,
// expired, client), and an unrelated self-signed server certificate.
type Certs struct {
	Dir string

	CAFile      string // the trusted CA
	OtherCAFile string // a CA that signed nothing the server uses

	Server, WrongHost, Expired, SelfSigned, Client KeyPair

	CA *x509.Certificate

	caKey *ecdsa.PrivateKey
}

// Issue makes a server certificate signed by the test CA, for cn and the
// names given (which may hold anything, control characters included: the
// tests show what securepg makes of a hostile certificate).
func (c *Certs) Issue(cn string, dns []string, ips []net.IP) (KeyPair, error) {
	kp, _, err := c.sign(&x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"securepg tests"}},
		DNSNames: dns, IPAddresses: ips, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return kp, err
}

// IssueClient makes a new client certificate for the role cn, signed by
// the test CA, and writes it and its key to files in the certificate
// directory: a rotated client certificate.
func (c *Certs) IssueClient(cn string) (KeyPair, error) {
	kp, key, err := c.sign(&x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"securepg tests"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return KeyPair{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	base := filepath.Join(c.Dir, "client-"+kp.Leaf.SerialNumber.Text(16))
	kp.CertFile, kp.KeyFile = base+".crt", base+".key"
	if err := writePEM(kp.CertFile, "CERTIFICATE", kp.Leaf.Raw, 0o644); err != nil {
		return KeyPair{}, err
	}
	if err := writePEM(kp.KeyFile, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return KeyPair{}, err
	}
	return kp, nil
}

// sign completes tmpl (a new key, a random serial, valid for a year from
// an hour ago) and signs it with the test CA.
func (c *Certs) sign(tmpl *x509.Certificate) (KeyPair, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
		return KeyPair{}, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter, tmpl.KeyUsage = now.Add(-time.Hour), now.Add(365*24*time.Hour), x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.CA, &key.PublicKey, c.caKey)
	if err != nil {
		return KeyPair{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, nil, err
	}
	return KeyPair{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}, key, nil
}

// KeyPair is a certificate and key, as files and as a tls.Certificate.
type KeyPair struct {
	CertFile, KeyFile string
	TLS               tls.Certificate
	Leaf              *x509.Certificate
}

// ClientCN is the common name of the client certificate: a role that
// authenticates with its certificate only.
const ClientCN = "certuser"

// GenerateCerts writes the test PKI into dir.
func GenerateCerts(dir string) (*Certs, error) {
	c := &Certs{Dir: dir}
	now := time.Now()
	caKey, caCert, err := newCA("securepg test CA", now)
	if err != nil {
		return nil, err
	}
	c.CA, c.caKey = caCert, caKey
	c.CAFile = filepath.Join(dir, "ca.crt")
	if err := writePEM(c.CAFile, "CERTIFICATE", caCert.Raw, 0o644); err != nil {
		return nil, err
	}
	_, otherCA, err := newCA("securepg unrelated CA", now)
	if err != nil {
		return nil, err
	}
	c.OtherCAFile = filepath.Join(dir, "other-ca.crt")
	if err := writePEM(c.OtherCAFile, "CERTIFICATE", otherCA.Raw, 0o644); err != nil {
		return nil, err
	}
	type spec struct {
		name      string
		dst       *KeyPair
		dns       []string
		ips       []net.IP
		notBefore time.Time
		notAfter  time.Time
		client    bool
		selfSign  bool
	}
	loop := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	specs := []spec{
		{"server", &c.Server, []string{"localhost"}, loop, now.Add(-time.Hour), now.Add(10 * 365 * 24 * time.Hour), false, false},
		{"wronghost", &c.WrongHost, []string{"wrong.example"}, nil, now.Add(-time.Hour), now.Add(10 * 365 * 24 * time.Hour), false, false},
		{"expired", &c.Expired, []string{"localhost"}, loop, now.Add(-72 * time.Hour), now.Add(-24 * time.Hour), false, false},
		{"selfsigned", &c.SelfSigned, []string{"localhost"}, loop, now.Add(-time.Hour), now.Add(10 * 365 * 24 * time.Hour), false, true},
		{"client", &c.Client, nil, nil, now.Add(-time.Hour), now.Add(10 * 365 * 24 * time.Hour), true, false},
	}
	for i, s := range specs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(100 + i)),
			Subject:      pkix.Name{CommonName: s.name + ".securepg.test", Organization: []string{"securepg tests"}},
			DNSNames:     s.dns,
			IPAddresses:  s.ips,
			NotBefore:    s.notBefore,
			NotAfter:     s.notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if s.client {
			tmpl.Subject.CommonName = ClientCN
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		parent, signer := caCert, any(caKey)
		if s.selfSign {
			parent, signer = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		if err != nil {
			return nil, err
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		kp := KeyPair{CertFile: filepath.Join(dir, s.name+".crt"), KeyFile: filepath.Join(dir, s.name+".key"), Leaf: leaf}
		if err := writePEM(kp.CertFile, "CERTIFICATE", der, 0o644); err != nil {
			return nil, err
		}
		if err := writePEM(kp.KeyFile, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
			return nil, err
		}
		kp.TLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		*s.dst = kp
	}
	return c, nil
}

func newCA(name string, now time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"securepg tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(20 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return os.Chmod(path, mode)
}

// IssueViaIntermediate makes an intermediate CA signed by the test CA and
// a server certificate for localhost, 127.0.0.1 and ::1 signed by that
// intermediate. The KeyPair's TLS certificate holds the chain (leaf, then
// intermediate), which a TLS front sends whole; the intermediate is
// returned too, for pinning tests.
func (c *Certs) IssueViaIntermediate() (KeyPair, *x509.Certificate, error) {
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return KeyPair{}, nil, err
	}
	now := time.Now()
	interDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "securepg test intermediate CA", Organization: []string{"securepg tests"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, c.CA, &interKey.PublicKey, c.caKey)
	if err != nil {
		return KeyPair{}, nil, err
	}
	inter, err := x509.ParseCertificate(interDER)
	if err != nil {
		return KeyPair{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, nil, err
	}
	if serial, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
		return KeyPair{}, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "intermediate-server.securepg.test", Organization: []string{"securepg tests"}},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, inter, &key.PublicKey, interKey)
	if err != nil {
		return KeyPair{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, nil, err
	}
	return KeyPair{TLS: tls.Certificate{Certificate: [][]byte{der, interDER}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}, inter, nil
}
