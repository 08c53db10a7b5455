package telemetry

import (
	"strings"
)

// Sanitize replaces every literal of a SQL statement with '?': strings
// ('...', E'...', B'...', X'...', U&'...'), dollar-quoted strings and
// numbers. Comments are dropped, as they may hold anything. Parameters
// ($1), identifiers and "quoted identifiers" are kept. Argument values are
// never part of the text, so parameterised SQL without literals is
// unchanged.
func Sanitize(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	prevIdent := false // the previous character continues an identifier
	for i := 0; i < len(q); {
		c, next := q[i], byte(0)
		if i+1 < len(q) {
			next = q[i+1]
		}
		ident := false
		switch {
		case c == '-' && next == '-': // up to the newline
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(q)
			}
		case c == '/' && next == '*':
			i = skipBlockComment(q, i)
			b.WriteByte(' ')
		case c == '\'' || !prevIdent && strings.IndexByte("EeBbXx", c) >= 0 && next == '\'':
			backslash := c == 'E' || c == 'e'
			if c != '\'' {
				i++
			}
			i = skipQuoted(q, i, backslash)
			b.WriteByte('?')
		case !prevIdent && (c == 'U' || c == 'u') && strings.HasPrefix(q[i+1:], "&'"):
			i = skipQuoted(q, i+2, false)
			b.WriteByte('?')
		case c == '"':
			j := skipQuotedIdent(q, i)
			b.WriteString(q[i:j])
			i = j // a token of its own: "x"$$...$$ is a literal after it
		case c == '$' && !prevIdent:
			if j, ok := dollarTag(q, i); ok {
				i = skipDollarQuoted(q, i, j)
				b.WriteByte('?')
				break
			}
			j := i + 1 // a parameter: $1
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			b.WriteString(q[i:j])
			i, ident = j, true
		case !prevIdent && (isDigit(c) || c == '.' && isDigit(next)):
			i = skipNumber(q, i)
			b.WriteByte('?')
		default:
			b.WriteByte(c)
			ident = isIdent(c)
			i++
		}
		prevIdent = ident
	}
	return b.String()
}

// skipBlockComment returns the index after the "/*" comment opening at
// q[i], nested comments included (len(q) when it is not closed).
func skipBlockComment(q string, i int) int {
	depth := 0
	for i < len(q) {
		if i+1 < len(q) && q[i] == '/' && q[i+1] == '*' {
			depth++
			i += 2
		} else if i+1 < len(q) && q[i] == '*' && q[i+1] == '/' {
			depth--
			i += 2
			if depth == 0 {
				break
			}
		} else {
			i++
		}
	}
	return i
}

// skipQuotedIdent returns the index after the "quoted identifier" opening
// at q[i], whose "" is a quote inside it (len(q) when it is not closed).
func skipQuotedIdent(q string, i int) int {
	for j := i + 1; j < len(q); j++ {
		if q[j] == '"' {
			if j+1 < len(q) && q[j+1] == '"' {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

// skipDollarQuoted returns the index after the dollar-quoted string
// opening at q[i] with the tag q[i:j] (len(q) when it is not closed).
func skipDollarQuoted(q string, i, j int) int {
	tag := q[i:j]
	end := strings.Index(q[j:], tag)
	if end < 0 {
		return len(q)
	}
	return j + end + len(tag)
}

// skipQuoted returns the index after the string literal opening at q[i].
// In a plain literal a backslash is literal when the server runs with
// standard_conforming_strings=on (the default) and escapes the next
// character when it is off: securepg cannot know which, so a plain
// literal with a backslash makes the rest of the statement one literal.
func skipQuoted(q string, i int, backslash bool) int {
	i++ // the opening quote
	for i < len(q) {
		switch {
		case q[i] == '\\' && !backslash:
			return len(q)
		case backslash && q[i] == '\\' && i+1 < len(q):
			i += 2
		case q[i] == '\'' && i+1 < len(q) && q[i+1] == '\'':
			i += 2
		case q[i] == '\'':
			return i + 1
		default:
			i++
		}
	}
	return i
}

// dollarTag recognises $$ or $tag$ at q[i] and returns the index after it.
func dollarTag(q string, i int) (int, bool) {
	j := i + 1
	if j < len(q) && isDigit(q[j]) {
		return 0, false
	}
	for j < len(q) && isIdent(q[j]) {
		j++
	}
	if j < len(q) && q[j] == '$' {
		return j + 1, true
	}
	return 0, false
}

func skipNumber(q string, i int) int {
	if strings.HasPrefix(q[i:], "0x") || strings.HasPrefix(q[i:], "0X") {
		i += 2
		for i < len(q) && (isDigit(q[i]) || q[i]|0x20 >= 'a' && q[i]|0x20 <= 'f' || q[i] == '_') {
			i++
		}
		return i
	}
	for i < len(q) && (isDigit(q[i]) || q[i] == '.' || q[i] == '_') {
		i++
	}
	if i < len(q) && (q[i] == 'e' || q[i] == 'E') {
		j := i + 1
		if j < len(q) && (q[j] == '+' || q[j] == '-') {
			j++
		}
		if j < len(q) && isDigit(q[j]) {
			i = j
			for i < len(q) && isDigit(q[i]) {
				i++
			}
		}
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdent(c byte) bool {
	return c == '_' || isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z' || c >= 0x80
}

// Summarize returns the operation (the statement's first keyword, upper
// case) and its target table, where they can be read from the statement:
// "SELECT", "users" for SELECT * FROM users. Both may be empty.
func Summarize(q string) (op, target string) {
	s := &scanner{q: Sanitize(q)}
	op = strings.ToUpper(s.word())
	switch op {
	case "":
		return "", ""
	case "SELECT":
		if s.seekKeyword("FROM") {
			target = s.ident()
		}
	case "INSERT":
		if s.seekKeyword("INTO") {
			target = s.ident()
		}
	case "UPDATE":
		s.skipKeyword("ONLY")
		target = s.ident()
	case "DELETE":
		if s.seekKeyword("FROM") {
			s.skipKeyword("ONLY")
			target = s.ident()
		}
	case "COPY":
		target = s.ident()
	case "TRUNCATE":
		s.skipKeyword("TABLE")
		s.skipKeyword("ONLY")
		target = s.ident()
	case "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE",
		"WITH", "CREATE", "DROP", "ALTER", "SET", "SHOW", "RESET", "LISTEN", "NOTIFY", "UNLISTEN",
		"EXPLAIN", "CALL", "DO", "VACUUM", "ANALYZE", "PREPARE", "EXECUTE", "DEALLOCATE", "DISCARD",
		"GRANT", "REVOKE", "LOCK", "MERGE", "VALUES", "TABLE", "FETCH", "CLOSE", "DECLARE", "MOVE", "REFRESH",
		"REINDEX", "CLUSTER", "COMMENT", "CHECKPOINT", "LOAD", "SECURITY", "IMPORT", "REASSIGN":
	default:
		return "", "" // not a statement we know: no made-up operation names
	}
	return op, target
}

// scanner walks a statement's words, skipping literals and comments.
type scanner struct {
	q     string
	i     int
	depth int // parentheses
}

func (s *scanner) skipSpace() {
	for s.i < len(s.q) && (s.q[s.i] == ' ' || s.q[s.i] == '\t' || s.q[s.i] == '\n' || s.q[s.i] == '\r' || s.q[s.i] == '(' && s.depth < 0) {
		s.i++
	}
}

// word returns the next bare word at top level, or "".
func (s *scanner) word() string {
	for s.i < len(s.q) {
		c := s.q[s.i]
		switch {
		case c == '(':
			s.depth++
			s.i++
		case c == ')':
			s.depth--
			s.i++
		case c == '"': // a quoted identifier is never a keyword
			s.i = skipQuotedIdent(s.q, s.i)
		case isIdent(c) && !isDigit(c):
			j := s.i
			for j < len(s.q) && isIdent(s.q[j]) {
				j++
			}
			w := s.q[s.i:j]
			s.i = j
			return w
		default:
			s.i++
		}
	}
	return ""
}

// seekKeyword advances past the next top-level occurrence of kw.
func (s *scanner) seekKeyword(kw string) bool {
	base := s.depth
	for {
		w := s.word()
		if w == "" {
			return false
		}
		if s.depth == base && strings.EqualFold(w, kw) {
			return true
		}
	}
}

func (s *scanner) skipKeyword(kw string) {
	save := s.i
	s.skipSpace()
	j := s.i
	for j < len(s.q) && isIdent(s.q[j]) {
		j++
	}
	if strings.EqualFold(s.q[s.i:j], kw) {
		s.i = j
		return
	}
	s.i = save
}

// ident reads a possibly schema-qualified, possibly quoted table name.
func (s *scanner) ident() string {
	s.skipSpace()
	start := s.i
	for s.i < len(s.q) {
		c := s.q[s.i]
		switch {
		case c == '"':
			s.i = skipQuotedIdent(s.q, s.i)
		case isIdent(c) || c == '.':
			s.i++
		default:
			goto done
		}
	}
done:
	name := s.q[start:s.i]
	if name == "" || isDigit(name[0]) || strings.EqualFold(name, "select") || strings.EqualFold(name, "lateral") {
		return ""
	}
	return name
}
