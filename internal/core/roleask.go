package core

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// An answer to RoleFactsSQL that cannot be read leaves the facts nil,
// which JudgeSession refuses.

// askRolePgConn asks on a connection pgx made.
func askRolePgConn(ctx context.Context, pc *pgconn.PgConn) (*RoleFacts, error) {
	// Two rows at most are kept (as on lib/pq): a peer's rows without end
	// cost time up to the context, not memory.
	mrr := pc.Exec(ctx, RoleFactsSQL)
	var rows [][]string
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			if len(rows) < 2 {
				rows = append(rows, textRow(rr.Values()))
			}
		}
		if _, err := rr.Close(); err != nil {
			mrr.Close()
			return nil, err
		}
	}
	if err := mrr.Close(); err != nil {
		return nil, err
	}
	role, _ := ParseRoleFacts(rows)
	return role, nil
}

// AskRoleDriver asks on a connection lib/pq made.
func AskRoleDriver(ctx context.Context, conn driver.Conn) (*RoleFacts, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil, nil
	}
	rs, err := q.QueryContext(ctx, RoleFactsSQL, nil)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows [][]string
	for len(rows) < 2 {
		dest := make([]driver.Value, len(rs.Columns()))
		if err := rs.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		rows = append(rows, textRow(dest))
	}
	role, _ := ParseRoleFacts(rows)
	return role, nil
}

// textValue renders a value lib/pq decoded in PostgreSQL's text format.
func textValue(v driver.Value) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "t"
		}
		return "f"
	case int64:
		return strconv.FormatInt(x, 10)
	default:
		return AsString(v)
	}
}

// textRow renders a row's values in PostgreSQL's text format.
func textRow[V any](row []V) []string {
	out := make([]string, len(row))
	for i, v := range row {
		out[i] = textValue(v)
	}
	return out
}

// AskRoleWire asks on the connection of a session that has just started
// (the server sent ReadyForQuery): a simple Query, and its answer read up
// to the next ReadyForQuery, on rw directly, unseen by the driver that
// owns the session. Deadlines are the driver's.
func AskRoleWire(rw io.ReadWriter) (*RoleFacts, error) {
	msg := make([]byte, 5, 6+len(RoleFactsSQL))
	msg[0] = 'Q'
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(RoleFactsSQL)+1))
	msg = append(append(msg, RoleFactsSQL...), 0)
	if _, err := rw.Write(msg); err != nil {
		return nil, err
	}
	var rows [][]string
	var failed error
	fr := frameReader{limit: MaxAuthMessage}
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			ferr := fr.feed(buf[:n], func(typ byte, body []byte) error {
				switch typ {
				case 'D':
					if len(rows) < 2 {
						rows = append(rows, dataRow(body))
					}
				case 'E':
					failed = errors.New("securepg: the server refused the query about the session's role: " + SafeText(errorMessage(body)))
				case 'Z':
					return errAuthOver
				}
				return nil
			})
			if ferr == errAuthOver {
				if failed != nil {
					return nil, failed
				}
				role, _ := ParseRoleFacts(rows)
				return role, nil
			}
			if ferr != nil {
				return nil, ferr
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

// dataRow splits a DataRow body into its columns as text (NULL as "").
// A malformed row yields what it could read, which ParseRoleFacts refuses.
func dataRow(body []byte) []string {
	if len(body) < 2 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	var cols []string
	for i := 0; i < n && len(body) >= 4; i++ {
		l := int32(binary.BigEndian.Uint32(body))
		body = body[4:]
		if l < 0 {
			cols = append(cols, "")
			continue
		}
		if int(l) > len(body) {
			return cols
		}
		cols = append(cols, string(body[:l]))
		body = body[l:]
	}
	return cols
}

// errorMessage is the M (message) field of an ErrorResponse body.
func errorMessage(body []byte) string {
	for len(body) > 1 {
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return ""
		}
		if body[0] == 'M' {
			return string(body[1:i])
		}
		body = body[i+1:]
	}
	return ""
}

// AsString is a text column's value as a driver returns it (string or []byte), or "".
func AsString(v driver.Value) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}
