package core

import (
	"sort"
	"strings"

	"github.com/securepg/securepg/internal/dsn"
)

// SafeError is an error from a driver whose text holds what a peer or a
// file wrote (a server's ErrorResponse, a certificate's names, a path):
// Error is that text with every secret of the DSN replaced by xxxxx and
// everything that could control a terminal escaped (SafeText), while
// Unwrap returns the driver's own error, so that errors.As still finds
// *pgconn.PgError or *pq.Error with their raw fields.
type SafeError struct {
	msg string
	err error
}

func (e *SafeError) Error() string { return e.msg }

// Unwrap returns the driver's error, unchanged.
func (e *SafeError) Unwrap() error { return e.err }

// EscapeError returns err when its text is safe to show as it is, and
// otherwise a *SafeError around it whose text has each of secrets (the
// DSN's, from dsn.Secrets) replaced by xxxxx and is escaped. A nil err
// stays nil.
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
	if len(secrets) == 0 {
		return s
	}
	sorted := append([]string(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, sec := range sorted {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

// ErrorSecrets returns what EscapeError must redact from a connect error
// for a connector made from s (a DSN) and, for a configuration built in
// code, its password: every secret of s under either driver's reading
// (a password that one parser folds into the user name, which pgx's
// connect error prints, included).
func ErrorSecrets(s, password string) []string {
	out := dsn.Secrets(s)
	if password != "" {
		out = append(out, password)
	}
	return out
}
