package core

import (
	"strings"
	"testing"
)

// FuzzServerHelloSniffer: the sniffer reads bytes from the network, so
// from whoever answers. Whatever they are, in whatever pieces, it must not
// panic, and it reports a version only once it read a whole ServerHello.
// (Its report is trusted only after crypto/tls completed the handshake,
// which authenticates the ServerHello.)
func FuzzServerHelloSniffer(f *testing.F) {
	// A TLS 1.3 ServerHello record (supported_versions = 0x0304).
	hello := []byte{22, 3, 3, 0, 46, 2, 0, 0, 42, 3, 3}
	hello = append(hello, make([]byte, 32)...)
	hello = append(hello, 0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4)
	f.Add(hello, uint8(7))
	f.Add([]byte{22, 3, 1, 0, 0}, uint8(1))
	f.Add(append([]byte{20, 3, 3, 0, 1, 1}, hello...), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var s serverHelloSniffer
		step := int(split)%16 + 1
		for i := 0; i < len(data); i += step {
			s.feed(data[i:min(i+step, len(data))])
		}
		if !s.done && (s.version != 0 || s.cipher != 0) {
			t.Fatalf("a version without a ServerHello")
		}
		if s.done && len(data) < 5+4+38 {
			t.Fatalf("a ServerHello in %d bytes", len(data))
		}
	})
}

// FuzzDSNReaders: securepg's own readers of DSNs (for redaction, password
// detection and provenance) never panic, and a redacted DSN never shows a
// password they detected.
func FuzzDSNReaders(f *testing.F) {
	for _, s := range redactSeeds {
		f.Add(s)
	}
	f.Add("host=a,b port=1,2 sslmode=verify-full service=x")
	f.Add("postgres://u:pw@h1:1,h2:2/db?sslmode=disable&sslmode=require")
	f.Fuzz(func(t *testing.T, dsn string) {
		for _, drv := range []string{DriverPgx, DriverPQ} {
			Sources(drv, dsn, func(string) (string, bool) { return "", false })
		}
		red := RedactDSN(dsn)
		if pairs, ok := splitKeywordValue(dsn); ok && !strings.HasPrefix(dsn, "postgres") {
			for _, kv := range pairs {
				if isSecretKey(kv[0]) && len(kv[1]) >= 4 && strings.Contains(red, kv[1]) && !strings.Contains(kv[1], "xxxxx") {
					t.Fatalf("RedactDSN(%q) = %q shows %q", dsn, red, kv[1])
				}
			}
		}
		DSNHasPassword(dsn)
	})
}
