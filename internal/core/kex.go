package core

import (
	"cmp"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
)

// KeyExchange is what the policy demands of a handshake's key exchange
// (SECUREPG_TLS_KEY_EXCHANGE): any group, or a hybrid post-quantum one,
// whose recorded traffic a quantum computer cannot decrypt later.
type KeyExchange uint8

// The key-exchange policies.
const (
	// KeyExchangeAny accepts any group crypto/tls negotiates ("any").
	KeyExchangeAny KeyExchange = iota
	// KeyExchangeHybridPQ requires a hybrid post-quantum group
	// (HybridGroups): the client offers only those, over TLS 1.3
	// ("hybrid-pq").
	KeyExchangeHybridPQ
)

func (k KeyExchange) String() string {
	if k == KeyExchangeHybridPQ {
		return "hybrid-pq"
	}
	return "any"
}

func parseKeyExchange(s string) (KeyExchange, bool) {
	switch strings.ToLower(s) {
	case "any":
		return KeyExchangeAny, true
	case "hybrid-pq":
		return KeyExchangeHybridPQ, true
	}
	return 0, false
}

// HybridGroups are the hybrid post-quantum key-exchange groups crypto/tls
// speaks, in its order of preference.
var HybridGroups = []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024}

// IsHybridPQ reports whether id is a hybrid post-quantum group.
func IsHybridPQ(id tls.CurveID) bool { return slices.Contains(HybridGroups, id) }

// GroupName spells a negotiated group as crypto/tls does; "" for none (no
// TLS, or a TLS 1.2 handshake whose group is not known yet).
func GroupName(id tls.CurveID) string {
	if id == 0 {
		return ""
	}
	return id.String()
}

// GroupKind is "hybrid-pq" for a hybrid post-quantum group, "classical"
// for any other, "" for none.
func GroupKind(id tls.CurveID) string {
	switch {
	case id == 0:
		return ""
	case IsHybridPQ(id):
		return "hybrid-pq"
	}
	return "classical"
}

// OffersOnlyHybrid reports whether the client offers only hybrid groups
// (and TLS 1.3): under hybrid-pq in enforce mode. Audit mode offers
// crypto/tls's defaults and reports a classical handshake.
func (p *Policy) OffersOnlyHybrid() bool { return p.KeyExchange == KeyExchangeHybridPQ && !p.Audit }

// restrictGroups makes tc, securepg's own clone, offer only the hybrid
// groups over TLS 1.3 when only is set (Policy.OffersOnlyHybrid).
func restrictGroups(tc *tls.Config, only bool) {
	if tc == nil || !only {
		return
	}
	tc.CurvePreferences = slices.Clone(HybridGroups)
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS13)
}

// maxBelowTLS13: ssl_max_protocol_version caps TLS below 1.3, where no
// hybrid group exists.
func maxBelowTLS13(host string, max uint16) *Violation {
	return &Violation{Reason: ReasonKeyExchangeClassical, Host: host, Got: TLSVersionName(max), Want: KeyExchangeHybridPQ.String(),
		Detail: "ssl_max_protocol_version=" + TLSVersionName(max) + " rules out the hybrid post-quantum groups, which need TLS 1.3 (" + EnvTLSKeyExchange + "=hybrid-pq)",
		Fix:    "remove ssl_max_protocol_version, or set " + EnvTLSKeyExchange + "=any"}
}

const keyExchangeFix = "enable a hybrid group on the server (PostgreSQL 18 with OpenSSL 3.5 or later: ssl_groups = 'X25519MLKEM768:X25519'), or set " +
	EnvTLSKeyExchange + "=any"

// classicalKeyExchange: the handshake negotiated a classical group.
func classicalKeyExchange(host string, got tls.CurveID) *Violation {
	name := cmp.Or(GroupName(got), "an unknown group")
	return &Violation{Reason: ReasonKeyExchangeClassical, Host: host, Got: name, Want: KeyExchangeHybridPQ.String(),
		Detail: "the handshake negotiated " + name + ", a classical key exchange that a quantum computer could break later (" + EnvTLSKeyExchange + "=hybrid-pq)",
		Fix:    keyExchangeFix}
}

// NoHybridKeyExchange: offered only hybrid groups, the server ended the
// handshake.
func NoHybridKeyExchange(host string, err error) *Violation {
	return &Violation{Reason: ReasonKeyExchangeClassical, Host: host, Got: "no hybrid group", Want: KeyExchangeHybridPQ.String(), Err: safeTLSError(err),
		Detail: "the server did not agree on a hybrid post-quantum key exchange over TLS 1.3, the only ones offered (" + EnvTLSKeyExchange + "=hybrid-pq)",
		Fix:    keyExchangeFix}
}

// safeTLSError keeps the TLS alert of err (crypto/tls's own text), or nil.
func safeTLSError(err error) error {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return alert
	}
	if msg := err.Error(); strings.Contains(msg, "remote error: tls: ") {
		return errors.New(msg[strings.Index(msg, "remote error: tls: "):])
	}
	return nil
}

// HandshakeRefused reports whether err is the server ending the handshake
// for want of a shared group or version: the alerts handshake_failure
// (40), protocol_version (70), insufficient_security (71). crypto/tls
// reports a peer's alert only in its text.
func HandshakeRefused(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) && (alert == 40 || alert == 70 || alert == 71) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: handshake failure") || strings.Contains(msg, "tls: protocol version") ||
		strings.Contains(msg, "tls: insufficient security")
}
