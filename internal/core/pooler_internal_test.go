package core

import (
	"bytes"
	"testing"
)

// TestAuthWatchBackendKey: the watch keeps the process ID of the
// BackendKeyData the peer sends before ReadyForQuery, whatever the
// length of the key (protocol 3.2 allows up to 256 bytes), in any
// chunking; and nothing when the peer sends none, or sends one after the
// startup ended.
func TestAuthWatchBackendKey(t *testing.T) {
	key := func(pid uint32, secret int) []byte {
		b := []byte{'K', 0, 0, 0, byte(8 + secret), byte(pid >> 24), byte(pid >> 16), byte(pid >> 8), byte(pid)}
		return append(b, bytes.Repeat([]byte{7}, secret)...)
	}
	ready := []byte{'Z', 0, 0, 0, 5, 'I'}
	cat := func(ms ...[]byte) []byte { return bytes.Join(ms, nil) }
	for _, tc := range []struct {
		name   string
		stream []byte
		pid    uint32
		ok     bool
	}{
		{"protocol 3.0", cat(msgOK, msgParam, key(4242, 4), ready), 4242, true},
		{"protocol 3.2 key", cat(msgOK, key(0xfedcba98, 32), msgParam, ready), 0xfedcba98, true},
		{"none", cat(msgOK, msgParam, ready), 0, false},
		{"after ReadyForQuery", cat(msgOK, ready, key(1, 4)), 0, false},
	} {
		for _, n := range []int{0, 1, 3} {
			w := NewAuthWatch(Policy{}, "h:5432", false)
			s := tc.stream
			if n == 0 {
				n = len(s)
			}
			for len(s) > 0 {
				k := min(n, len(s))
				if err := w.read(s[:k]); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				s = s[k:]
			}
			if pid, ok := w.backendKey(); pid != tc.pid || ok != tc.ok {
				t.Errorf("%s (chunks of %d): backendKey = %d %v, want %d %v", tc.name, n, pid, ok, tc.pid, tc.ok)
			}
		}
	}
}
