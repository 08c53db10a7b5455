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

// ValidateFacts checks a connection's facts against the policy: the
// checks ValidatePgx and ValidatePQ make, for facts that did not come from
// a socket.
func ValidateFacts(p Policy, f Facts, rec *Recorder) error {
	if f.Network == "unix" {
		if p.AllowUnixSocket {
			return nil
		}
		return letThrough(p, &Violation{Reason: ReasonUnixSocket, Host: f.Host, Got: "unix socket", Want: "tcp",
			Detail: "the connection went through a unix socket"}, rec)
	}
	host := f.Host
	if f.Port != 0 {
		host = f.Host + ":" + itoa(f.Port)
	}
	if !f.TLS {
		if !p.MinSSLMode.NeedsTLS() {
			return nil
		}
		return letThrough(p, &Violation{Reason: ReasonTLSNotEstablished, Host: host, Got: "plaintext", Want: p.MinSSLMode.String(),
			Detail: "the connection is not encrypted"}, rec)
	}
	if f.Version < p.MinTLSVersion {
		return &Violation{Reason: ReasonTLSVersionTooLow, Host: host, Got: TLSVersionName(f.Version), Want: TLSVersionName(p.MinTLSVersion),
			Detail: "the connection uses " + TLSVersionName(f.Version)}
	}
	if f.Verify < p.MinSSLMode.Required() {
		return letThrough(p, &Violation{Reason: verifyReason(f.Verify), Host: host, Got: f.Verify.String(), Want: p.MinSSLMode.String(),
			Detail: "the handshake verified " + f.Verify.String() + " only"}, rec)
	}
	return nil
}

type credentialsKey struct{}

type credentials struct{ user, password string }

// WithCredentials makes the connection attempt in ctx use user (when not
// empty) and password.
func WithCredentials(ctx context.Context, user, password string) context.Context {
	return context.WithValue(ctx, credentialsKey{}, credentials{user, password})
}

// CredentialsFrom returns the credentials WithCredentials put in ctx.
func CredentialsFrom(ctx context.Context) (user, password string, ok bool) {
	c, ok := ctx.Value(credentialsKey{}).(credentials)
	return c.user, c.password, ok
}
