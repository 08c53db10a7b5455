package core

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
)

// systemRoots is the system's root store, read once: x509.SystemCertPool
// returns a new copy at every call. Only ever read, never added to.
var systemRoots = sync.OnceValues(x509.SystemCertPool)

// rootsCacheSize is how many bundle versions parsedRoots keeps.
const rootsCacheSize = 16

// parsedRoots holds the bundles last parsed, by the SHA-256 of their
// content; the oldest goes first.
var parsedRoots struct {
	sync.Mutex
	m     map[[32]byte]*Roots
	order [][32]byte
}

// cachedRoots returns the bundle pem parsed by parse, parsing it once per
// content however many hosts or connectors name it. A failed parse is not
// kept.
func cachedRoots(pem []byte, parse func([]byte) (*Roots, error)) (*Roots, error) {
	sum := sha256.Sum256(pem)
	parsedRoots.Lock()
	r := parsedRoots.m[sum]
	parsedRoots.Unlock()
	if r != nil {
		return r, nil
	}
	r, err := parse(pem)
	if err != nil {
		return nil, err
	}
	parsedRoots.Lock()
	defer parsedRoots.Unlock()
	if old := parsedRoots.m[sum]; old != nil {
		return old, nil // parsed meanwhile by another connect
	}
	if parsedRoots.m == nil {
		parsedRoots.m = map[[32]byte]*Roots{}
	}
	if len(parsedRoots.order) == rootsCacheSize {
		delete(parsedRoots.m, parsedRoots.order[0])
		parsedRoots.order = parsedRoots.order[1:]
	}
	parsedRoots.m[sum] = r
	parsedRoots.order = append(parsedRoots.order, sum)
	return r, nil
}
