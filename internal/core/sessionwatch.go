package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// What the authentication watch does after ReadyForQuery, on connections
// where a peer's bytes still reach code that cannot defend itself:
//
//   - pgx, until securepg has judged the connection (FinishPgConn): pgx's
//     target_session_attrs check (ValidateConnectTargetSessionAttrs*, which
//     keeps every row with Exec(...).ReadAll()), securepg's own query about
//     the role, and a configuration's own ValidateConnect all read inside
//     the connect, where no caller can bound them. The server's bytes are
//     bounded by MaxJudgeBytes there, then released.
//   - lib/pq's listeners, for the session's whole life: lib/pq's
//     ListenerConn reads notifications in its own goroutine, where nothing
//     recovers, and lib/pq v1.12 recovers no panic anywhere: a message it
//     would read past kills the process. Each message is checked as lib/pq
//     reads it and the read fails instead (the listener reconnects).
//   - every other lib/pq connection, for the session's whole life, framed
//     only (no bound: a row may be large), until a COPY FROM STDIN starts:
//     lib/pq reads its answers in a goroutine of its own (copyin.resploop),
//     where nothing recovers either. From the CopyInResponse to the
//     ReadyForQuery each message is bounded and checked as resploop reads
//     it. A panic in the caller's goroutine is the wrappers' to survive.

// MaxJudgeBytes bounds what the server sends after ReadyForQuery until
// securepg has judged a pgx connection: the answers to securepg's role
// query and pgx's target_session_attrs check are a few hundred bytes. A
// configuration's own ValidateConnect reads within the same bound.
const MaxJudgeBytes = 1 << 20

// sessionRules is how the watch goes on after ReadyForQuery.
type sessionRules struct {
	budget int64  // all the server's bytes until released; 0: no bound
	limit  int    // the largest message body
	keep   int    // how much of each body is kept; 0: as in the startup
	when   string // for the errors
	// check inspects each message (nil: framing and counting only).
	check func(typ byte, body []byte) error
}

// judgeRules are pgx's until the connection is judged.
func judgeRules() *sessionRules {
	return &sessionRules{budget: MaxJudgeBytes, limit: MaxJudgeBytes, when: "after the startup, before securepg judged the connection"}
}

// listenerRules are a lib/pq listener's for the session's life: no byte
// budget (a session is long), the per-message bound lib/pq would
// otherwise allocate up to 4 GiB for (a notification's payload is at
// most 8000 bytes), and lib/pq's reads checked.
func listenerRules() *sessionRules {
	return &sessionRules{limit: MaxAuthMessage, when: "in a listener's session", check: (&pqSession{}).message}
}

// copyRules are a lib/pq connection's (not a listener's) for the
// session's life: framed only, and checked while a COPY FROM STDIN runs.
func (w *authWatch) copyRules() *sessionRules {
	return &sessionRules{keep: 1, when: "in a session", check: (&pqCopy{fr: &w.in}).message}
}

// startSession switches the watch to its rules after ReadyForQuery.
func (w *authWatch) startSession() {
	w.inSession = true
	w.in.total, w.in.budget, w.in.limit, w.in.when = 0, w.after.budget, w.after.limit, w.after.when
	if w.after.keep > 0 {
		w.in.keep = w.after.keep
	}
}

// sessionMessage inspects one server message of the session.
func (w *authWatch) sessionMessage(typ byte, body []byte) error {
	if w.after.check != nil {
		return w.after.check(typ, body)
	}
	return nil
}

// release ends the watch: securepg has judged the connection, whose bytes
// are the caller's from now on.
func (w *authWatch) release() { w.done.Store(true) }

var errMalformedForPQ = errors.New("securepg: the server sent a malformed message before the session started")

var errMalformedSessionForPQ = errors.New("securepg: the server sent a malformed message in a listener's session (lib/pq could not read it)")

var errMalformedCopyForPQ = errors.New("securepg: the server sent a malformed message during COPY FROM STDIN (lib/pq could not read it)")

// pqCopy follows a lib/pq session for COPY FROM STDIN: from the server's
// CopyInResponse to its ReadyForQuery, lib/pq's copyin.resploop reads the
// answers in its own goroutine, and panics on a command tag
// parseComplete rejects, or a message it reads past.
type pqCopy struct {
	fr *frameReader // the server's side, bounded while the copy runs
	on bool
}

func (c *pqCopy) message(typ byte, body []byte) error {
	if !c.on {
		if typ == 'G' {
			c.on = true
			c.fr.limit, c.fr.keep = MaxAuthMessage, MaxAuthMessage
		}
		return nil
	}
	bad := pqMalformed(typ, body)
	switch {
	case typ == 'C' && !bad:
		bad = !pqTagParses(string(body[:bytes.IndexByte(body, 0)]))
	case typ == 'Z':
		c.on = false
		c.fr.limit, c.fr.keep = 0, 1
	}
	if bad {
		return errMalformedCopyForPQ
	}
	return nil
}

// pqTagParses reports whether lib/pq's parseComplete reads a command tag
// without an error: a count after SELECT, UPDATE, DELETE, FETCH, MOVE or
// COPY, and INSERT's three parts.
func pqTagParses(tag string) bool {
	for _, p := range []string{"SELECT ", "UPDATE ", "DELETE ", "FETCH ", "MOVE ", "COPY "} {
		if n, ok := strings.CutPrefix(tag, p); ok {
			_, err := strconv.ParseInt(n, 10, 64)
			return err == nil
		}
	}
	if strings.HasPrefix(tag, "INSERT ") {
		parts := strings.Split(tag, " ")
		if len(parts) != 3 {
			return false
		}
		_, err := strconv.ParseInt(parts[2], 10, 64)
		return err == nil
	}
	return true
}

// pqSession checks a lib/pq listener's session messages as lib/pq reads
// them: ListenerConn's loop (notify.go: recvNotification, parseError),
// and the queries lib/pq runs itself on a new connection (conn.go:
// checkTSA's getBool, through simpleQuery and rows.Next).
type pqSession struct {
	cols []pqColumn // the last RowDescription's; nil: none since ReadyForQuery
}

// pqColumn is what rows.Next decodes a column's value by.
type pqColumn struct {
	oid    uint32
	format uint16
}

func (s *pqSession) message(typ byte, body []byte) error {
	bad := pqMalformed(typ, body)
	switch typ {
	case 'T':
		s.cols, bad = pqRowDescription(body)
	case 'D':
		bad = bad || !s.dataRowFits(body)
	case 'Z':
		s.cols = nil
	}
	if bad {
		return errMalformedSessionForPQ
	}
	return nil
}

// pqRowDescription reads a RowDescription as lib/pq's
// parsePortalRowDescribe does (a name, then 18 bytes, per field), and
// reports one lib/pq would read past or could not decode by (a format
// neither text nor binary: decode panics "unreachable").
func pqRowDescription(body []byte) (cols []pqColumn, bad bool) {
	if len(body) < 2 {
		return nil, true
	}
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	cols = make([]pqColumn, 0, min(n, len(body)/19))
	for range n {
		i := bytes.IndexByte(body, 0)
		if i < 0 || len(body)-i-1 < 18 {
			return nil, true
		}
		f := body[i+1:]
		c := pqColumn{oid: binary.BigEndian.Uint32(f[6:]), format: binary.BigEndian.Uint16(f[16:])}
		if c.format > 1 {
			return nil, true
		}
		cols = append(cols, c)
		body = f[18:]
	}
	return cols, false
}

// dataRowFits reports whether rows.Next can read a DataRow: after a
// RowDescription with as many columns (a reader's destination is sized by
// it, lib/pq's getBool's by one), each value's length within the message,
// and the values lib/pq decodes by indexing long enough.
func (s *pqSession) dataRowFits(body []byte) bool {
	if s.cols == nil || len(body) < 2 || int(binary.BigEndian.Uint16(body)) != len(s.cols) {
		return false
	}
	body = body[2:]
	for _, c := range s.cols {
		if len(body) < 4 {
			return false
		}
		l := int64(int32(binary.BigEndian.Uint32(body)))
		body = body[4:]
		if l == -1 {
			continue
		}
		if l < 0 || l > int64(len(body)) || l < pqMinValue(c) {
			return false
		}
		body = body[l:]
	}
	return true
}

// pqMinValue is the shortest value lib/pq's decode reads without an index
// out of range: binary integers whole, a text boolean's first byte.
func pqMinValue(c pqColumn) int64 {
	const boolOID, int8OID, int2OID, int4OID = 16, 20, 21, 23
	switch {
	case c.format == 1 && c.oid == int8OID:
		return 8
	case c.format == 1 && c.oid == int4OID:
		return 4
	case c.format == 1 && c.oid == int2OID:
		return 2
	case c.format == 0 && c.oid == boolOID:
		return 1
	}
	return 0
}

// pqMalformed reports whether lib/pq would read past the end of a message
// of type typ (an index out of range, a string without its terminator),
// as its startup, its queries' readers and its listener read them
// (RowDescription and DataRow: pqSession).
func pqMalformed(typ byte, body []byte) bool {
	switch typ {
	case 'K', 'v':
		return len(body) < 4
	case 'Z':
		return len(body) < 1
	case 'S':
		return bytes.Count(body, []byte{0}) < 2
	case 'A':
		// NotificationResponse: a process ID, then the channel and the
		// payload, each ended by a zero byte.
		return len(body) < 4 || bytes.Count(body[4:], []byte{0}) < 2
	case 'C':
		return bytes.IndexByte(body, 0) < 0 // the command tag
	case 'E', 'N':
		return pqFieldsMalformed(body)
	case 'R':
		if len(body) < 4 {
			return true
		}
		switch binary.BigEndian.Uint32(body) {
		case 5: // MD5: a 4-byte salt
			return len(body) < 8
		case 10: // SASL: mechanism names, each ended by a zero byte, then an empty one
			list := body[4:]
			return !(bytes.Equal(list, []byte{0}) || bytes.HasSuffix(list, []byte{0, 0}))
		}
	}
	return false
}

// pqFieldsMalformed: an ErrorResponse's or NoticeResponse's fields (a
// type byte and a string each, ended by a zero byte) as parseError reads
// them.
func pqFieldsMalformed(body []byte) bool {
	for len(body) > 0 && body[0] != 0 {
		i := bytes.IndexByte(body[1:], 0)
		if i < 0 {
			return true
		}
		body = body[i+2:]
	}
	return len(body) == 0
}
