package core

import (
	"bytes"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/securepg/securepg/internal/dsn"
)

// SafeError is a driver's error whose text holds what a peer or a file
// wrote: Error is that text redacted and escaped (SafeText), while Unwrap
// returns the driver's own error, so that errors.As still finds
// *pgconn.PgError or *pq.Error with their raw fields.
type SafeError struct {
	msg string
	err error
}

// Error is the redacted, escaped text.
func (e *SafeError) Error() string { return e.msg }

// Unwrap returns the driver's error, unchanged.
func (e *SafeError) Unwrap() error { return e.err }

// EscapeError returns err when its text is safe to show as it is, and
// otherwise a *SafeError around it whose text has each of secrets
// replaced by xxxxx and is escaped. A nil err stays nil.
func EscapeError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*SafeError); ok {
		return err
	}
	raw := err.Error()
	msg := SafeText(RedactText(raw, secrets))
	if msg == raw {
		return err
	}
	return &SafeError{msg: msg, err: err}
}

// RedactText replaces in s every occurrence of each of secrets by xxxxx,
// the longest secrets first (a secret may hold another).
func RedactText(s string, secrets []string) string {
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range sorted {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

// ErrorSecrets returns what EscapeError must redact from a connect error:
// every secret of the DSN s under either driver's reading, and password.
func ErrorSecrets(s, password string) []string {
	out := dsn.Secrets(s)
	if password != "" {
		out = append(out, password)
	}
	return out
}

// hostileServerError is the error for a server's ErrorResponse (body,
// after the length) during the startup with a field SafeText would
// change, or nil. Its text is the driver's rendering escaped; Unwrap
// returns the error the driver would have built (driverError, for lib/pq;
// nil: pgx's *pgconn.PgError). The authentication watch fails the
// driver's read with it, so that no way in sees the raw text.
func hostileServerError(driverError func(fields map[byte]string) error, body []byte) error {
	fields, ok := errorFields(body)
	if !ok {
		return nil
	}
	if !slices.ContainsFunc(slices.Collect(maps.Values(fields)), func(v string) bool { return !isSafe(v) }) {
		return nil
	}
	var raw error
	if driverError != nil {
		raw = driverError(fields)
	} else {
		var er pgproto3.ErrorResponse
		if er.Decode(body) != nil {
			return nil
		}
		raw = pgconn.ErrorResponseToPgError(&er)
	}
	return &SafeError{msg: SafeText(raw.Error()), err: raw}
}

// errorFields reads an ErrorResponse body: a field type byte and a
// NUL-terminated value each, then a NUL.
func errorFields(body []byte) (map[byte]string, bool) {
	fields := map[byte]string{}
	for len(body) > 0 && body[0] != 0 {
		i := bytes.IndexByte(body[1:], 0)
		if i < 0 {
			return nil, false
		}
		fields[body[0]] = string(body[1 : 1+i])
		body = body[2+i:]
	}
	return fields, len(body) > 0
}
