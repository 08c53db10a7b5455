package core

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestParsePins: base64 SHA-256 hashes, comma-separated, "sha256/"
// optional; an entry that is not one is an error naming its position,
// never its text.
func TestParsePins(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	ea, eb := base64.StdEncoding.EncodeToString(a[:]), base64.StdEncoding.EncodeToString(b[:])
	pins, err := ParsePins(" " + ea + " , sha256/" + eb + ",")
	if err != nil || len(pins) != 2 || pins[0] != a || pins[1] != b || pins.String() != ea+","+eb {
		t.Fatalf("%v %v", pins, err)
	}
	for _, bad := range []string{"", ",", "secret-value", ea[:40], base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := ParsePins(bad)
		if err == nil || bad != "" && bad != "," && strings.Contains(err.Error(), bad) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	p := DefaultPolicy()
	if err := p.Set(EnvPinSHA256, "secret-value", EnvPinSHA256); err == nil || !strings.Contains(err.Error(), EnvPinSHA256) || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("%v", err)
	}
}

// TestJudgePins: a pin matches any certificate of a verified chain; a
// chain without one, or no verified chain, is refused (audited in audit
// mode); no pins judge nothing.
func TestJudgePins(t *testing.T) {
	leaf := &x509.Certificate{RawSubjectPublicKeyInfo: []byte("leaf")}
	inter := &x509.Certificate{RawSubjectPublicKeyInfo: []byte("inter")}
	root := &x509.Certificate{RawSubjectPublicKeyInfo: []byte("root")}
	chain := [][]*x509.Certificate{{leaf, inter, root}}
	pin := func(c *x509.Certificate) Pins { return Pins{sha256.Sum256(c.RawSubjectPublicKeyInfo)} }
	other := Pins{sha256.Sum256([]byte("other"))}
	base := Facts{Network: "tcp", Host: "db", Port: 5432, Mode: ModeVerifyFull, TLS: true, Version: tls.VersionTLS13, Verify: VerifyFull,
		PeerCertificates: []*x509.Certificate{leaf, inter}}
	for _, tc := range []struct {
		name   string
		pins   Pins
		chains [][]*x509.Certificate
		audit  bool
		refuse bool
		audits bool
	}{
		{"no pins", nil, nil, false, false, false},
		{"leaf", pin(leaf), chain, false, false, false},
		{"intermediate", pin(inter), chain, false, false, false},
		{"root", pin(root), chain, false, false, false},
		{"rotation", append(other, pin(leaf)...), chain, false, false, false},
		{"mismatch", other, chain, false, true, false},
		{"no verified chain", pin(leaf), nil, false, true, false},
		{"audit", other, chain, true, false, true},
	} {
		p := DefaultPolicy()
		p.Pins, p.Audit = tc.pins, tc.audit
		f := base
		f.VerifiedChains = tc.chains
		refusal, audited := Pass(p, Check{Stage: StageHandshake, Facts: f})
		if (refusal != nil) != tc.refuse || (len(audited) > 0) != tc.audits {
			t.Fatalf("%s: refusal %v audited %v", tc.name, refusal, audited)
		}
		if refusal != nil && (refusal.Reason != ReasonPinMismatch || !strings.Contains(refusal.Detail, EnvPinSHA256)) {
			t.Fatalf("%s: %+v", tc.name, refusal)
		}
	}
}

// TestPinFile: SECUREPG_PIN_SHA256_FILE's pins are the handshake's
// (Facts.Pins), not the list read at Load; a file withdrawn for longer
// than a rotation takes fails closed in enforce and audit mode alike; a
// malformed file is an error at Load naming the variable, never a pin's
// text; the policy's own list is ignored beside a file.
func TestPinFile(t *testing.T) {
	leaf := &x509.Certificate{RawSubjectPublicKeyInfo: []byte("leaf")}
	chain := [][]*x509.Certificate{{leaf}}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	path := filepath.Join(t.TempDir(), "pins")
	if err := os.WriteFile(path, []byte("# current\n\n"+base64.StdEncoding.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy()
	if err := p.Set(EnvPinSHA256File, path, EnvPinSHA256File); err != nil {
		t.Fatal(err)
	}
	if err := p.Load(); err != nil || len(p.Pins) != 1 {
		t.Fatalf("%v %v", p.Pins, err)
	}
	now := time.Now()
	p.PinsFile.now = func() time.Time { return now }
	pins, err := p.CurrentPins(context.Background())
	if err != nil || !pins.Match(chain) {
		t.Fatalf("%v %v", pins, err)
	}
	f := Facts{Network: "tcp", Host: "db", Port: 5432, Mode: ModeVerifyFull, TLS: true, Version: tls.VersionTLS13, Verify: VerifyFull,
		PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: chain}
	if refusal, _ := Pass(p, Check{Stage: StageHandshake, Facts: f}); refusal == nil || refusal.Reason != ReasonPinMismatch {
		t.Fatalf("no pins read for the handshake: %v", refusal)
	}
	f.Pins = pins
	if refusal, _ := Pass(p, Check{Stage: StageHandshake, Facts: f}); refusal != nil {
		t.Fatalf("%v", refusal)
	}
	os.Remove(path)
	for _, step := range []time.Duration{2 * time.Second, 11 * time.Second} {
		now = now.Add(step)
		f.Pins, f.PinsErr = p.CurrentPins(context.Background())
	}
	if f.PinsErr == nil {
		t.Fatal("a withdrawn pin file is still used after the grace")
	}
	for _, audit := range []bool{false, true} {
		p.Audit = audit
		if refusal, _ := Pass(p, Check{Stage: StageHandshake, Facts: f}); refusal == nil || refusal.Reason != ReasonPinMismatch || !strings.Contains(refusal.Error(), EnvPinSHA256File) {
			t.Fatalf("audit %v: %v", audit, refusal)
		}
	}
	os.WriteFile(path, []byte("pin-secret-text\n"), 0o600)
	q := DefaultPolicy()
	q.Set(EnvPinSHA256File, path, EnvPinSHA256File)
	if err := q.Load(); err == nil || !strings.Contains(err.Error(), EnvPinSHA256File) || strings.Contains(err.Error(), "pin-secret-text") {
		t.Fatalf("%v", err)
	}
}
