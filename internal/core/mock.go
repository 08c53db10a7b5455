package core

import (
	"context"
	"database/sql/driver"
	"sync"
)

// Mock stands in for the network: it hands out conns with simulated TLS
// facts. The sqlmocktest package registers mocks here; production code
// never does.
type Mock interface {
	// Connect returns a conn standing in for target, the DSN's first host.
	Connect(ctx context.Context, target Target) (driver.Conn, Facts, error)
}

var mocks struct {
	mu sync.Mutex
	m  map[string][]Mock // DSN -> registrations, the last one in force
}

// RegisterMock makes every connector created for dsn use m instead of the
// network, until unregister is called.
func RegisterMock(dsn string, m Mock) (unregister func()) {
	mocks.mu.Lock()
	defer mocks.mu.Unlock()
	if mocks.m == nil {
		mocks.m = map[string][]Mock{}
	}
	mocks.m[dsn] = append(mocks.m[dsn], m)
	return func() {
		mocks.mu.Lock()
		defer mocks.mu.Unlock()
		list := mocks.m[dsn]
		for i := len(list) - 1; i >= 0; i-- {
			if list[i] == m {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(mocks.m, dsn)
		} else {
			mocks.m[dsn] = list
		}
	}
}

// LookupMock returns the mock in force for dsn.
func LookupMock(dsn string) (Mock, bool) {
	mocks.mu.Lock()
	defer mocks.mu.Unlock()
	list := mocks.m[dsn]
	if len(list) == 0 {
		return nil, false
	}
	return list[len(list)-1], true
}
