package core

import (
	"strings"
	"testing"
)

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
