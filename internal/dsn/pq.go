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
	s := []rune(dsn)
	i := 0
	next := func() (rune, bool) {
		if i >= len(s) {
			return 0, false
		}
		c := s[i]
		i++
		return c, true
	}
	skipSpaces := func() (rune, bool) {
		c, ok := next()
		for unicode.IsSpace(c) && ok {
			c, ok = next()
		}
		return c, ok
	}
	tail := func() string { return string(s[max(i-1, 0):]) }
	for {
		c, ok := skipSpaces()
		if !ok {
			return
		}
		start := i - 1
		var key []rune
		for !unicode.IsSpace(c) && c != '=' {
			key = append(key, c)
			if c, ok = next(); !ok {
				break
			}
		}
		if c != '=' {
			c, ok = skipSpaces()
		}
		if c != '=' || !ok {
			r.fail(fmt.Errorf(`missing "=" after %q in connection info string`, string(key)), string(s[start:]))
			return
		}
		if c, ok = skipSpaces(); !ok {
			r.Pairs = append(r.Pairs, Pair{Key: string(key)})
			return
		}
		vstart := i - 1
		var val []rune
		if c != '\'' {
			for !unicode.IsSpace(c) {
				if c == '\\' {
					if c, ok = next(); !ok {
						r.Pairs = append(r.Pairs, Pair{Key: string(key), Value: string(val), Raw: string(s[vstart:])})
						r.fail(errors.New("missing character after backslash"), tail())
						return
					}
				}
				val = append(val, c)
				if c, ok = next(); !ok {
					break
				}
			}
		} else {
		quote:
			for {
				if c, ok = next(); !ok {
					r.Pairs = append(r.Pairs, Pair{Key: string(key), Value: string(val), Raw: string(s[vstart:])})
					r.fail(errors.New("unterminated quoted string literal in connection string"), string(s[vstart:]))
					return
				}
				switch c {
				case '\'':
					break quote
				case '\\':
					c, _ = next()
					fallthrough
				default:
					val = append(val, c)
				}
			}
		}
		end := i
		if end > len(s) {
			end = len(s)
		}
		r.Pairs = append(r.Pairs, Pair{Key: string(key), Value: string(val), Raw: strings.TrimRightFunc(string(s[vstart:end]), unicode.IsSpace)})
	}
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
