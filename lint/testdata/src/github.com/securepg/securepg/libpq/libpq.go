// Package libpq is a stub of securepg's lib/pq backend for the fixtures.
package libpq

import (
	"database/sql/driver"
	"time"

	"github.com/lib/pq"

	"github.com/securepg/securepg"
)

func Backend() securepg.Option { return nil }

func ConnectorWithNoticeHandler(c driver.Connector, handler func(*pq.Error)) driver.Connector {
	return c
}

// Listener is the listener NewListener makes.
type Listener struct{ *pq.Listener }

func NewListener(dsn string, minReconnect, maxReconnect time.Duration, cb pq.EventCallbackType, opts ...securepg.Option) (*Listener, error) {
	return nil, nil
}

// ListenerDialer is a dialer type securepg defines.
type ListenerDialer struct{ pq.Dialer }

func (d *ListenerDialer) DSN() string { return "" }

func NewListenerDialer(dsn string, opts ...securepg.Option) (*ListenerDialer, error) {
	return &ListenerDialer{}, nil
}
