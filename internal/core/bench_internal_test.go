package core

import (
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
