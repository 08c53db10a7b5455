package core

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Pins is a set of SPKI SHA-256 hashes (SECUREPG_PIN_SHA256), one of which
// a certificate of the verified chain must hold, beside the chain and
// host-name verification, never instead of it; empty pins nothing.
type Pins [][sha256.Size]byte

// ParsePins reads a comma-separated list of base64 SHA-256 hashes of
// SubjectPublicKeyInfo, each optionally prefixed "sha256/". An error names
// a bad entry by position, never by its text.
func ParsePins(s string) (Pins, error) {
	var pins Pins
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "sha256/")
		if e == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(e)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("entry %d is not a base64 SHA-256 hash (44 characters) of a SubjectPublicKeyInfo", i+1)
		}
		pins = append(pins, [sha256.Size]byte(b))
	}
	if len(pins) == 0 {
		return nil, errors.New("no pin")
	}
	return pins, nil
}

// parsePinFile reads a pin file: pins separated by commas or lines;
// blank lines and lines starting with # are skipped.
func parsePinFile(data [][]byte) (Pins, error) {
	var list []string
	for line := range strings.Lines(string(data[0])) {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			list = append(list, line)
		}
	}
	return ParsePins(strings.Join(list, ","))
}

// SPKIHash is the pin of a certificate: the base64 SHA-256 of its
// SubjectPublicKeyInfo.
func SPKIHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (ps Pins) String() string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = base64.StdEncoding.EncodeToString(p[:])
	}
	return strings.Join(out, ",")
}

// Match reports whether a certificate of one of chains (as x509.Verify
// returns them) has one of the pinned keys.
func (ps Pins) Match(chains [][]*x509.Certificate) bool {
	for _, chain := range chains {
		for _, c := range chain {
			if slices.Contains(ps, sha256.Sum256(c.RawSubjectPublicKeyInfo)) {
				return true
			}
		}
	}
	return false
}

// CurrentPins is the pins in force now: the pin file's current version
// (read again when it changed, as the root file is), or the policy's list.
func (p *Policy) CurrentPins(ctx context.Context) (Pins, error) {
	if p.PinsFile != nil {
		return p.PinsFile.Get(ctx)
	}
	return p.Pins, nil
}

// pinsFrom names where the pins come from: the pin file's variable, or
// the list's.
func (p *Policy) pinsFrom() string {
	if p.PinFile != "" {
		return EnvPinSHA256File + " (" + SafeText(p.PinFile) + ")"
	}
	return EnvPinSHA256
}

// pinsAt is the pins in force at the handshake f: the pin file's version
// the handshake read, or the policy's own list.
func (p *Policy) pinsAt(f *Facts) Pins {
	if p.PinFile != "" {
		return f.Pins
	}
	return p.Pins
}

// pinFileUnusable: the pin file has been unusable for longer than a
// rotation takes, or no pins were read for this handshake: fail closed.
func pinFileUnusable(host string, err error) *Violation {
	v := &Violation{Reason: ReasonPinMismatch, Host: host, Got: "no pins", Want: "a pinned key (" + EnvPinSHA256File + ")", Err: err, Hard: true,
		Detail: "the pin file of " + EnvPinSHA256File + " cannot be used",
		Fix:    "restore the pin file (one base64 SHA-256 of a SubjectPublicKeyInfo per line)"}
	if err != nil {
		v.Detail += ": " + err.Error()
	}
	return v
}

// pinNeedsVerification: sslmode verifies no chain, so the pins can never
// match; refused before the dial rather than at every handshake.
func pinNeedsVerification(host string, mode SSLMode, pinsFrom string) *Violation {
	return &Violation{Reason: ReasonPinMismatch, Host: host, Got: "sslmode=" + mode.String(), Want: "a pinned key (" + pinsFrom + ")",
		Detail: "the pins of " + pinsFrom + " are matched only against a verified certificate chain, and sslmode=" + mode.String() + " verifies none",
		Fix:    "set sslmode=verify-full (or verify-ca) with the roots that issued the server certificate"}
}

// pinMismatch: no certificate of the verified chains has a pinned key, or
// nothing was verified to match the pins against.
func pinMismatch(host string, f Facts, pinsFrom string) *Violation {
	v := &Violation{Reason: ReasonPinMismatch, Host: host, Want: "a pinned key (" + pinsFrom + ")"}
	if len(f.VerifiedChains) == 0 {
		v.Got = "no verified chain"
		v.Detail = "the pins of " + pinsFrom + " are matched only against a verified certificate chain, and this connection verified none"
		v.Fix = "set sslmode=verify-full (or verify-ca) with the roots that issued the server certificate"
		return v
	}
	v.Got = "no pinned key"
	if len(f.PeerCertificates) > 0 {
		v.Got = "leaf key " + SPKIHash(f.PeerCertificates[0])
	}
	v.Detail = "no certificate of the server's verified chain has a key pinned by " + pinsFrom
	v.Fix = "if the server's key changed on purpose, add its pin (sha256 of the SubjectPublicKeyInfo, as securepg probe shows) to " + pinsFrom + " beside the old one"
	return v
}
