package core

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"strconv"
)

// maxAuthBody bounds what authWatch keeps of one message: a SASL
// mechanism list is a few dozen bytes.
const maxAuthBody = 1 << 10

// MaxAuthMessage bounds every message the server sends before the session
// starts (a GSSAPI token is a few kilobytes); the drivers would allocate
// whatever length a peer announces (pgx up to 1 GiB, lib/pq 4 GiB).
const MaxAuthMessage = 64 << 10

// MaxStartupBytes bounds everything the server sends before ReadyForQuery
// (a real server: a few kilobytes; pgx kept a peer's flood of distinct
// ParameterStatus up to 1.7 GB). The connection is cut at the header that
// would cross it.
const MaxStartupBytes = 1 << 20

// MaxSCRAMIterations bounds the iteration count a server may ask SCRAM's
// key derivation for (PostgreSQL's default is 4096): the drivers run it
// for any count, up to 2^31, in a loop no context ends.
const MaxSCRAMIterations = 1 << 20

// maxErrLen is libpq's MAX_ERRLEN, which lib/pq copies: an ErrorResponse
// outside [4, maxErrLen] is read as text up to a NUL byte.
const maxErrLen = 30000

// frameReader parses PostgreSQL messages (type byte, int32 length,
// body) from a byte stream fed in pieces, keeping at most maxAuthBody
// bytes of each body.
type frameReader struct {
	limit  int    // the server's side: the largest body accepted, and lib/pq's error lengths; 0: the client's side, any
	budget int64  // when set, bounds all messages together, counted at each header
	keep   int    // how much of each body is kept; 0: maxAuthBody
	when   string // when the bytes came, for the errors; "": before the session started
	total  int64
	hdr    [5]byte
	nhdr   int
	left   int // body bytes still to come
	body   []byte
}

// feed consumes p and calls msg for every message completed in it; msg's
// error stops the parse.
func (fr *frameReader) feed(p []byte, msg func(typ byte, body []byte) error) error {
	for len(p) > 0 {
		if fr.nhdr < 5 {
			n := copy(fr.hdr[fr.nhdr:], p)
			fr.nhdr += n
			p = p[n:]
			if fr.nhdr < 5 {
				return nil
			}
			l := int64(binary.BigEndian.Uint32(fr.hdr[1:]))
			if l < 4 || fr.limit > 0 && l-4 > int64(fr.limit) {
				return &oversizeError{typ: fr.hdr[0], size: l, limit: fr.limit, when: fr.when}
			}
			// lib/pq reads an ErrorResponse shorter than 4 bytes or longer
			// than libpq's MAX_ERRLEN up to a NUL byte, however far.
			if fr.limit > 0 && fr.hdr[0] == 'E' && (l-4 < 4 || l-4 > maxErrLen) {
				return &oversizeError{typ: 'E', size: l, limit: fr.limit, when: fr.when}
			}
			if fr.total += l + 1; fr.budget > 0 && fr.total > fr.budget {
				return &floodError{size: fr.total, limit: fr.budget, when: fr.when}
			}
			fr.left = int(l - 4)
			fr.body = fr.body[:0]
		}
		n := min(fr.left, len(p))
		if keep := min(n, cmp.Or(fr.keep, maxAuthBody)-len(fr.body)); keep > 0 {
			fr.body = append(fr.body, p[:keep]...)
		}
		fr.left -= n
		p = p[n:]
		if fr.left == 0 {
			fr.nhdr = 0
			if err := msg(fr.hdr[0], fr.body); err != nil {
				return err
			}
		}
	}
	return nil
}

// oversizeError: while the watch bounds its messages, the server
// announced a message longer than the limit, or shorter than its length
// field.
type oversizeError struct {
	typ   byte
	size  int64
	limit int
	when  string
}

func (e *oversizeError) Error() string {
	return fmt.Sprintf("securepg: the server announced a %d-byte message (type %q) %s, which is refused (at most %d bytes, and an error message of 8 to %d)",
		e.size, e.typ, whenOr(e.when), cmp.Or(e.limit, MaxAuthMessage), maxErrLen+4)
}

// floodError: the server sent more than a budget (MaxStartupBytes before
// the session started).
type floodError struct {
	size, limit int64
	when        string
}

func (e *floodError) Error() string {
	return fmt.Sprintf("securepg: the server sent more than %d bytes %s (%d with its next message), which is refused: a real server sends a few kilobytes",
		e.limit, whenOr(e.when), e.size)
}

func whenOr(when string) string { return cmp.Or(when, "before the session started") }

// scramIterations refuses a server-first-message (r=...,s=...,i=...)
// whose iteration count is over MaxSCRAMIterations.
func scramIterations(msg []byte) error {
	for _, attr := range bytes.Split(msg, []byte{','}) {
		if v, ok := bytes.CutPrefix(attr, []byte("i=")); ok {
			if n, err := strconv.ParseUint(string(v), 10, 32); err != nil || n > MaxSCRAMIterations {
				return &iterationsError{count: string(v)}
			}
		}
	}
	return nil
}

// iterationsError: the server asked SCRAM for more iterations than
// MaxSCRAMIterations (or for a count that is no number).
type iterationsError struct{ count string }

func (e *iterationsError) Error() string {
	return fmt.Sprintf("securepg: the server asked for %.20q SCRAM iterations, over the %d securepg allows (PostgreSQL's default is 4096): the drivers would compute them beyond any context",
		e.count, MaxSCRAMIterations)
}
