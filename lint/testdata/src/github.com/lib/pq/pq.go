// Package pq is a stub of lib/pq: the names the analyzer matches, with
// their signatures.
package pq

import (
	"context"
	"database/sql/driver"
	"net"
	"time"
)

type Dialer interface {
	Dial(network, address string) (net.Conn, error)
	DialTimeout(network, address string, timeout time.Duration) (net.Conn, error)
}

type Config struct{ Host string }

func NewConfig(dsn string) (Config, error) { return Config{}, nil }

type Connector struct{}

func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) { return nil, nil }

func (c *Connector) Driver() driver.Driver { return nil }

func (c *Connector) Dialer(dialer Dialer) {}

func NewConnector(dsn string) (*Connector, error) { return &Connector{}, nil }

func NewConnectorConfig(cfg Config) (*Connector, error) { return &Connector{}, nil }

func Open(dsn string) (driver.Conn, error) { return nil, nil }

func DialOpen(d Dialer, dsn string) (driver.Conn, error) { return nil, nil }

type ErrorCode string

type Error struct{ Code ErrorCode }

func (e *Error) Error() string { return string(e.Code) }

type NoticeHandlerConnector struct{ driver.Connector }

func ConnectorWithNoticeHandler(c driver.Connector, handler func(*Error)) *NoticeHandlerConnector {
	return &NoticeHandlerConnector{c}
}

type Notification struct{}

type ListenerEventType int

type EventCallbackType func(event ListenerEventType, err error)

type Listener struct{}

type ListenerConn struct{}

func NewListener(dsn string, minReconnect, maxReconnect time.Duration, cb EventCallbackType) *Listener {
	return &Listener{}
}

func NewDialListener(d Dialer, dsn string, minReconnect, maxReconnect time.Duration, cb EventCallbackType) *Listener {
	return &Listener{}
}

func NewListenerConn(name string, notificationChan chan<- *Notification) (*ListenerConn, error) {
	return &ListenerConn{}, nil
}

type Driver struct{}

func (d Driver) Open(name string) (driver.Conn, error) { return nil, nil }
