package core

import (
	"crypto/tls"
	"errors"
	"io"
	"syscall"
)

// DirectNotSpoken is the Violation for a direct TLS handshake
// (sslnegotiation=direct) that the peer ended without speaking TLS, as a
// PostgreSQL older than 17 or a pooler that expects an SSLRequest does.
// It returns nil for any other failure of the handshake.
func DirectNotSpoken(host string, p Policy, err error) *Violation {
	var v *Violation
	var header tls.RecordHeaderError
	switch {
	case errors.As(err, &v):
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		err = io.EOF // the peer hung up
	case errors.As(err, &header):
		err = errors.New(header.Error()) // its text, not the peer's conn
	default:
		return nil
	}
	return &Violation{Reason: ReasonTLSNotEstablished, Host: host, Got: "no TLS", Want: p.MinSSLMode.String(), Hard: true,
		Detail: "the server (or something in between) did not accept a direct TLS handshake (sslnegotiation=direct)", Err: err,
		Fix: "PostgreSQL accepts direct TLS from version 17: with an older server, or a pooler that does not, use sslnegotiation=postgres"}
}
