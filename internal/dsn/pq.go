package dsn

import (
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"sort"
	"strings"
	"unicode"
)

// readPQKeywordValue follows lib/pq's Config.fromDSN: runes, any Unicode
// space separates, backslash escapes, single quotes.
func (r *Reading) readPQKeywordValue(dsn string) {
	sc := pqScanner{s: []rune(dsn)}
	for {
		c, ok := sc.skipSpaces()
		if !ok {
			return
		}
		start := sc.i - 1
		var key []rune
		for !unicode.IsSpace(c) && c != '=' {
			key = append(key, c)
			if c, ok = sc.next(); !ok {
				break
			}
		}
		if c != '=' {
			c, ok = sc.skipSpaces()
		}
		if c != '=' || !ok {
			r.fail(fmt.Errorf(`missing "=" after %q in connection info string`, string(key)), string(sc.s[start:]))
			return
		}
		if !r.readPQValue(&sc, key) {
			return
		}
	}
}

// pqScanner walks a DSN's runes as fromDSN's scanner does.
type pqScanner struct {
	s []rune
	i int // the index of the next rune
}

// next returns the next rune; false at the end.
func (sc *pqScanner) next() (rune, bool) {
	if sc.i >= len(sc.s) {
		return 0, false
	}
	c := sc.s[sc.i]
	sc.i++
	return c, true
}

// skipSpaces returns the next rune that is not a space; false at the end.
func (sc *pqScanner) skipSpaces() (rune, bool) {
	c, ok := sc.next()
	for unicode.IsSpace(c) && ok {
		c, ok = sc.next()
	}
	return c, ok
}

// readPQValue reads key's value after its "=", bare or single-quoted, and
// appends the pair; false when the DSN ends or fails in it. (The value's
// runes stay in this function, so that a short one is not allocated.)
func (r *Reading) readPQValue(sc *pqScanner, key []rune) bool {
	c, ok := sc.skipSpaces()
	if !ok {
		r.Pairs = append(r.Pairs, Pair{Key: string(key)})
		return false
	}
	vstart := sc.i - 1
	var val []rune
	if c != '\'' {
		for !unicode.IsSpace(c) {
			if c == '\\' {
				if c, ok = sc.next(); !ok {
					r.Pairs = append(r.Pairs, Pair{Key: string(key), Value: string(val), Raw: string(sc.s[vstart:])})
					r.fail(errors.New("missing character after backslash"), string(sc.s[sc.i-1:]))
					return false
				}
			}
			val = append(val, c)
			if c, ok = sc.next(); !ok {
				break
			}
		}
	} else {
	quote:
		for {
			if c, ok = sc.next(); !ok {
				r.Pairs = append(r.Pairs, Pair{Key: string(key), Value: string(val), Raw: string(sc.s[vstart:])})
				r.fail(errors.New("unterminated quoted string literal in connection string"), string(sc.s[vstart:]))
				return false
			}
			switch c {
			case '\'':
				break quote
			case '\\':
				c, _ = sc.next()
				fallthrough
			default:
				val = append(val, c)
			}
		}
	}
	end := min(sc.i, len(sc.s))
	r.Pairs = append(r.Pairs, Pair{Key: string(key), Value: string(val), Raw: strings.TrimRightFunc(string(sc.s[vstart:end]), unicode.IsSpace)})
	return true
}

// readPQURL follows lib/pq's convertURL: net/url, the first of each
// query key, then the keyword/value reader over the result.
func (r *Reading) readPQURL(dsn string) {
	u, err := neturl.Parse(dsn)
	if err != nil {
		r.fail(errors.New("invalid URL"), dsn)
		return
	}
	var kvs []string
	escaper := strings.NewReplacer(`'`, `\'`, `\`, `\\`)
	accrue := func(k, v string) {
		if v != "" {
			kvs = append(kvs, k+"='"+escaper.Replace(v)+"'")
		}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		accrue("user", u.User.Username())
		accrue("password", pw)
	}
	if host, port, err := net.SplitHostPort(u.Host); err != nil {
		accrue("host", u.Host)
	} else {
		accrue("host", host)
		accrue("port", port)
	}
	if u.Path != "" {
		accrue("dbname", u.Path[1:])
	}
	q := u.Query()
	for k := range q {
		accrue(k, q.Get(k))
	}
	sort.Strings(kvs)
	r.readPQKeywordValue(strings.Join(kvs, " "))
}
