package core

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkHostileDSN: what a malformed DSN of many password= pairs costs
// to refuse, with its error redacted, at growing sizes up to MaxDSNSize.
// Time and memory per byte should stay flat (linear cost); see
// BENCHMARKS.md.
func BenchmarkHostileDSN(b *testing.B) {
	clearPG(b)
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10, 60 << 10} {
		dsn := strings.Repeat("password=x"+marker+" ", size/20) + "port=bad 'x"
		for _, drv := range []string{DriverPgx, DriverPQ} {
			b.Run(fmt.Sprintf("driver=%s/size=%dKiB", drv, size>>10), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(dsn)))
				for b.Loop() {
					if _, err := prepare(drv, dsn); err == nil {
						b.Fatal("a malformed DSN was accepted")
					}
				}
			})
		}
	}
}

// BenchmarkJudgeHandshake: what judging one verified TLS 1.3 handshake
// costs with neither SECUREPG_TLS_KEY_EXCHANGE nor SECUREPG_PIN_SHA256
// set, with hybrid-pq, and with two pins (the match is against a
// three-certificate chain, the pin on its root: the longest walk); see
// BENCHMARKS.md.
func BenchmarkJudgeHandshake(b *testing.B) {
	chain := []*x509.Certificate{{RawSubjectPublicKeyInfo: []byte("leaf key")}, {RawSubjectPublicKeyInfo: []byte("intermediate key")},
		{RawSubjectPublicKeyInfo: []byte("root key")}}
	f := Facts{Network: "tcp", Host: "db", Port: 5432, Mode: ModeVerifyFull, TLS: true, Version: tls.VersionTLS13,
		CurveID: tls.X25519MLKEM768, Verify: VerifyFull, PeerCertificates: chain[:2], VerifiedChains: [][]*x509.Certificate{chain}}
	for _, tc := range []struct {
		name string
		set  func(p *Policy)
	}{
		{"default", func(*Policy) {}},
		{"hybrid-pq", func(p *Policy) { p.KeyExchange = KeyExchangeHybridPQ }},
		{"pins=2", func(p *Policy) {
			p.Pins = Pins{sha256.Sum256([]byte("other key")), sha256.Sum256([]byte("root key"))}
		}},
	} {
		p := DefaultPolicy()
		tc.set(&p)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if vs := Judge(p, f); len(vs) != 0 {
					b.Fatal(vs[0])
				}
			}
		})
	}
}
