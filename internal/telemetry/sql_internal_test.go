package telemetry

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT * FROM users WHERE id = $1", "SELECT * FROM users WHERE id = $1"},
		{"SELECT * FROM users WHERE name = 'alice' AND age > 42", "SELECT * FROM users WHERE name = ? AND age > ?"},
		{"SELECT 'it''s', E'a\\'b', $$dollar 'x'$$, $tag$ y $tag$", "SELECT ?, ?, ?, ?"},
		{"SELECT 1.5e10, .5, 0xFF, x1, t2.c3", "SELECT ?, ?, ?, x1, t2.c3"},
		{"SELECT \"col'1\" FROM \"T\"\"x\"", "SELECT \"col'1\" FROM \"T\"\"x\""},
		{"ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD ?"},
		{"SELECT 1 -- password 'x'\n, 2", "SELECT ? \n, ?"},
		{"SELECT /* secret /* nested */ */ 1", "SELECT   ?"},
		{"SELECT B'101', X'1F', U&'d\\0061t'", "SELECT ?, ?, ?"},
		{"SELECT 'unterminated", "SELECT ?"},
		{"INSERT INTO t VALUES ($1, 'a', 3)", "INSERT INTO t VALUES ($1, ?, ?)"},
		// With standard_conforming_strings=off a backslash escapes the quote;
		// with it on, it does not. Either way nothing of the literal shows.
		{"SELECT 'it\\'s secret' FROM t", "SELECT ?"},
		{"UPDATE t SET a = 'x\\', b = 'secret'", "UPDATE t SET a = ?"},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct{ in, op, target string }{
		{"SELECT * FROM users WHERE id = $1", "SELECT", "users"},
		{"select a from public.users u join b on true", "SELECT", "public.users"},
		{"SELECT (SELECT max(x) FROM inner_t) FROM outer_t", "SELECT", "outer_t"},
		{"SELECT 1", "SELECT", ""},
		{"SELECT now() AS \"from\"", "SELECT", ""},
		{"INSERT INTO orders (id) VALUES ($1)", "INSERT", "orders"},
		{"UPDATE ONLY accounts SET x = 1", "UPDATE", "accounts"},
		{"DELETE FROM \"Weird Table\" WHERE true", "DELETE", "\"Weird Table\""},
		{"  -- comment\n  begin", "BEGIN", ""},
		{"COMMIT", "COMMIT", ""},
		{"COPY items FROM STDIN", "COPY", "items"},
		{"TRUNCATE TABLE logs", "TRUNCATE", "logs"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "WITH", ""},
		{"frobnicate everything", "", ""},
		{";", "", ""},
		{"", "", ""},
		{"SELECT 'FROM secret' FROM t", "SELECT", "t"},
	} {
		op, target := Summarize(tc.in)
		if op != tc.op || target != tc.target {
			t.Errorf("Summarize(%q) = %q, %q; want %q, %q", tc.in, op, target, tc.op, tc.target)
		}
	}
}

// FuzzSanitize: no string literal survives, whatever surrounds it.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"SELECT ", "x = ", "$1, ", "E", "-- c\n", "/* */", "\"q\" ", "$t$ $t$"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, before, after string) {
		const canary = "Kx9SecretLiteral"
		// Only whole tokens: a literal glued to an identifier is not one.
		// after may hold a backslash and a quote: under
		// standard_conforming_strings=off the literal goes on.
		q := before + " '" + canary + after + "' "
		if strings.ContainsAny(before, "'\"$") || strings.Contains(before, "--") || strings.Contains(before, "/*") {
			return // the literal may legitimately be inside another token
		}
		out := Sanitize(q)
		if strings.Contains(out, canary) {
			t.Fatalf("Sanitize(%q) = %q", q, out)
		}
		Summarize(q) // must not panic
	})
}
