// Package dsn reads PostgreSQL connection strings exactly as each
// underlying driver's parser tokenises them (pgx v5.12 and lib/pq v1.12),
// so that securepg's redaction, password detection and provenance follow
// the driver, never a reading of their own. Every function is linear in
// the length of its input. Differential fuzz tests hold the readers to the
// drivers' own parsers.
package dsn

import (
	"errors"
	"fmt"
	"strings"
)

// The drivers whose parsers this package follows.
const (
	Pgx = "pgx"
	PQ  = "pq"
)

// Pair is one key=value setting as a driver's parser read it. Raw is the
// value as written in the DSN (quoted, escaped or percent-encoded), when
// the parser takes it from one place of the text.
type Pair struct {
	Key, Value, Raw string
}

// Reading is what a driver's parser makes of a DSN.
type Reading struct {
	// Pairs are every setting read, in order, duplicates included: a
	// password that a later duplicate overrides is a secret all the same.
	Pairs []Pair
	// Settings are the values the driver keeps (duplicates resolved as it
	// resolves them), with pgx's canonical key names (database for dbname).
	Settings map[string]string
	// Err is the parser's tokenisation error, if any; Pairs holds what was
	// read before it, and Tail the text the parser did not get to.
	Err  error
	Tail string
	// URL reports the postgres:// form.
	URL bool
}

// IsURL reports whether the drivers read dsn as a URL.
func IsURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Read tokenises dsn as driver's parser does. An unknown driver is read as
// pgx.
func Read(driver, dsn string) Reading {
	var r Reading
	r.URL = IsURL(dsn)
	switch {
	case driver == PQ && r.URL:
		r.readPQURL(dsn)
	case driver == PQ:
		r.readPQKeywordValue(dsn)
	case r.URL:
		r.readPgxURL(dsn)
	default:
		r.readPgxKeywordValue(dsn)
	}
	r.Settings = make(map[string]string, len(r.Pairs))
	for _, p := range r.Pairs {
		if driver == PQ {
			r.Settings[p.Key] = p.Value // lib/pq: the last of each key
		} else {
			r.Settings[canonical(p.Key)] = p.Value
		}
	}
	if db, ok := r.Settings["dbname"]; ok && driver == PQ {
		// lib/pq: database= beats dbname=.
		if _, ok := r.Settings["database"]; !ok {
			r.Settings["database"] = db
		}
		delete(r.Settings, "dbname")
	}
	if r.URL && driver != PQ {
		r.pgxSSLAlias()
	}
	return r
}

func canonical(k string) string {
	if k == "dbname" {
		return "database"
	}
	return k
}

// spaces are the ASCII spaces pgx splits keyword/value settings on.
const spaces = " \t\n\r\v\f"

// readPgxKeywordValue follows pgconn's parseKeywordValueSettings.
func (r *Reading) readPgxKeywordValue(s string) {
	if strings.IndexByte(s, 0) >= 0 {
		r.fail(errors.New("forbidden NUL byte in connection string"), s)
		return
	}
	s = strings.TrimLeft(s, spaces)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			r.fail(errors.New("invalid keyword/value"), s)
			return
		}
		key := strings.Trim(s[:eq], spaces)
		if i := strings.IndexAny(key, spaces); i >= 0 {
			r.fail(fmt.Errorf(`missing "=" after %q in connection info string`, key[:i]), s)
			return
		}
		rest := strings.TrimLeft(s[eq+1:], spaces)
		var raw, val string
		switch {
		case rest == "":
			s = ""
		case rest[0] != '\'':
			end := valueEnd(rest, false)
			raw, val = rest[:end], unescape(rest[:end])
			s = strings.TrimLeft(rest[end:], spaces)
		default:
			body := rest[1:]
			end := valueEnd(body, true)
			if end == len(body) {
				r.fail(errors.New("unterminated quoted string in connection info string"), s)
				r.Pairs = append(r.Pairs, Pair{Key: key, Value: unescape(body), Raw: rest})
				return
			}
			raw, val = rest[:end+2], unescape(body[:end])
			s = strings.TrimLeft(body[end+1:], spaces)
		}
		if key == "" {
			r.fail(errors.New("invalid keyword/value"), s)
			return
		}
		if key == "user" && val == "" {
			continue // pgx ignores an empty user
		}
		r.Pairs = append(r.Pairs, Pair{Key: key, Value: val, Raw: raw})
	}
}

// valueEnd is the index of the space (the quote, when quoted) that ends
// the value s starts with, a backslash escaping the next byte; len(s) when
// none does.
func valueEnd(s string, quoted bool) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case quoted && s[i] == '\'' || !quoted && strings.IndexByte(spaces, s[i]) >= 0:
			return i
		}
	}
	return len(s)
}

// unescape is libpq's backslash rule: a backslash is dropped and the next
// character taken literally; a trailing backslash is dropped.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (r *Reading) fail(err error, tail string) {
	r.Err = err
	r.Tail = tail
}

// pgxSSLAlias applies pgx's URI-only ssl=true alias for sslmode=require:
// the alias wins only when it comes after the last explicit sslmode.
func (r *Reading) pgxSSLAlias() {
	last := ""
	for _, p := range r.Pairs {
		if p.Key == "ssl" || p.Key == "sslmode" {
			last = p.Key
		}
	}
	if v, ok := r.Settings["ssl"]; ok && v == "true" {
		delete(r.Settings, "ssl")
		if last == "ssl" {
			r.Settings["sslmode"] = "require"
		}
	}
}

// uriDecode is libpq's conninfo_uri_decode as pgx implements it: '%' and
// two hex digits, %00 forbidden, ASCII spaces at either end skipped,
// spaces inside rejected.
func uriDecode(raw string) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	i := 0
	for i < len(raw) && raw[i] == ' ' {
		i++
	}
	for i < len(raw) && raw[i] != ' ' {
		if raw[i] != '%' {
			b.WriteByte(raw[i])
			i++
			continue
		}
		var hi, lo byte
		var ok1, ok2 bool
		if i+1 < len(raw) {
			hi, ok1 = hexDigit(raw[i+1])
		}
		if i+2 < len(raw) {
			lo, ok2 = hexDigit(raw[i+2])
		}
		if !ok1 || !ok2 {
			return "", errors.New("invalid percent-encoded token")
		}
		c := hi<<4 | lo
		if c == 0 {
			return "", errors.New("forbidden value %00 in percent-encoded value")
		}
		b.WriteByte(c)
		i += 3
	}
	for i < len(raw) && raw[i] == ' ' {
		i++
	}
	if i < len(raw) {
		return "", errors.New("unexpected spaces found, use percent-encoded spaces (%20) instead")
	}
	return b.String(), nil
}

func hexDigit(c byte) (byte, bool) {
	i := strings.IndexByte("0123456789abcdefABCDEF", c)
	if i >= 16 {
		i -= 6
	}
	return byte(i), i >= 0
}
