// Package pgdriver is a stub of bun's pgdriver: the names the analyzer
// matches, with their signatures.
package pgdriver

type Option func(*Connector)

type Connector struct{}

func WithDSN(dsn string) Option { return nil }

func NewConnector(opts ...Option) *Connector { return &Connector{} }
