// Package allowscope: what a securepg:allow directive accepts. A comment
// alone on its line accepts the line below; a comment after code accepts
// its own line only; a directive without a reason accepts nothing and is
// reported.
package allowscope

import (
	"database/sql"
)

// A trailing allow comment does not accept the next line.
func trailingAllow(dsn, prod string) {
	_, _ = sql.Open("pgx", dsn)  //securepg:allow local throwaway server in tests
	_, _ = sql.Open("pgx", prod) // want `sql.Open with driver "pgx" bypasses`
}

// Nor does one after an opening brace.
func afterBrace(debug bool, dsn string) {
	if debug { //securepg:allow a local debug server
		_, _ = sql.Open("pgx", dsn) // want `sql.Open with driver "pgx" bypasses`
	}
}

// The directive without a reason: reported, and accepting nothing.
func bareAllow(dsn string) {
	//securepg:allow // want `securepg:allow without a reason accepts nothing`
	_, _ = sql.Open("postgres", dsn) // want `sql.Open with driver "postgres" bypasses`

	/* securepg:allow */             // want `securepg:allow without a reason accepts nothing`
	_, _ = sql.Open("postgres", dsn) // want `sql.Open with driver "postgres" bypasses`

	//securepg:allowed here // want `securepg:allow without a reason accepts nothing`
	_, _ = sql.Open("postgres", dsn) // want `sql.Open with driver "postgres" bypasses`
}

// Accepted.
func accepted(dsn string) {
	//securepg:allow see https://wiki.example/local-dev for why
	_, _ = sql.Open("pgx", dsn)

	_, _ = sql.Open( /* securepg:allow a block comment on the line */ "pgx", dsn)

	/*
		securepg:allow a block comment alone, over lines
	*/
	_, _ = sql.Open("pgx", dsn)

	_, _ = sql.Open( //securepg:allow trailing on the line the call starts on
		"postgres", dsn)
}
