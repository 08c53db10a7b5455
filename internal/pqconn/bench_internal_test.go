package pqconn

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/securepg/securepg/internal/core"

	"github.com/securepg/securepg/lab/labtest"
)

// BenchmarkHostileDSN: what a malformed DSN of many password= pairs costs
// to refuse, with its error redacted, at growing sizes up to MaxDSNSize.
// Time and memory per byte should stay flat (linear cost); see
// BENCHMARKS.md.
func BenchmarkHostileDSN(b *testing.B) {
	labtest.ClearPG(b)
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10, 60 << 10} {
		dsn := strings.Repeat("password=x"+marker+" ", size/20) + "port=bad 'x"
		for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
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
	f := core.Facts{Network: "tcp", Host: "db", Port: 5432, Mode: core.ModeVerifyFull, TLS: true, Version: tls.VersionTLS13,
		CurveID: tls.X25519MLKEM768, Verify: core.VerifyFull, PeerCertificates: chain[:2], VerifiedChains: [][]*x509.Certificate{chain}}
	for _, tc := range []struct {
		name string
		set  func(p *core.Policy)
	}{
		{"default", func(*core.Policy) {}},
		{"hybrid-pq", func(p *core.Policy) { p.KeyExchange = core.KeyExchangeHybridPQ }},
		{"pins=2", func(p *core.Policy) {
			p.Pins = core.Pins{sha256.Sum256([]byte("other key")), sha256.Sum256([]byte("root key"))}
		}},
	} {
		p := core.DefaultPolicy()
		tc.set(&p)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if vs := core.Judge(p, f); len(vs) != 0 {
					b.Fatal(vs[0])
				}
			}
		})
	}
}
