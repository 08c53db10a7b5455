package core

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securepg/securepg/internal/dsn"
)

// DSNError reports a DSN that securepg or the driver's parser rejected.
// Its text is rebuilt from the parser's message with every fragment that
// could be part of a secret removed: pgx keeps the raw DSN in its
// ParseConfigError, and lib/pq quotes values, so neither is wrapped.
type DSNError struct {
	Driver string
	Msg    string
}

// Error names the parser and what it found wrong.
func (e *DSNError) Error() string {
	return "securepg: invalid DSN (" + e.Driver + " parser): " + e.Msg
}

// MaxDSNSize is the longest DSN securepg accepts: room for inline
// certificates, and a bound on what a hostile DSN can cost.
const MaxDSNSize = 64 << 10

// CheckDSN refuses, before any parser runs, a DSN, a PG* variable, a
// file or a host list that is too long, and one whose reading by the
// driver swallowed a setting into another's value (host= password=...)
// or put part of a URL's password into its host or database: the driver
// would send that text to DNS, to the server and to the logs.
func CheckDSN(driver, s string) error {
	if len(s) > MaxDSNSize {
		return &DSNError{Driver: "securepg", Msg: "the DSN is " + strconv.Itoa(len(s)) + " bytes; securepg accepts at most " + strconv.Itoa(MaxDSNSize)}
	}
	if err := checkEnv(); err != nil {
		return err
	}
	r := dsn.Read(driver, s)
	if r.Err != nil {
		return nil // the driver's parser says what is wrong
	}
	if err := checkFiles(driver, r.Settings); err != nil {
		return err
	}
	if trap := dsn.Trap(r); trap != "" {
		msg := "the value of " + SafeText(trap) + " holds another setting: an empty value swallows the next key; write an empty value as ''"
		switch {
		case strings.Contains(trap, "non-ASCII space"):
			msg = "the value of " + SafeText(trap) + ": lib/pq splits settings at any Unicode space (U+00A0, U+2000-U+200A, U+3000...), pgx only at ASCII spaces, so the drivers read different settings; separate settings with ASCII spaces, or quote the value"
		case strings.Contains(trap, "no key") || strings.Contains(trap, "identifier"):
			msg = "the DSN has " + trap + "; the driver would send it to the server"
		case trap == "host":
			msg = "the URL's host and port are not a host name and a port number: a port that is not a number, or part of a password that holds '@', '/' or ':' (percent-encode them in the password: %40, %2F, %3A)"
		case !strings.Contains(trap, "="):
			msg = "the URL's " + trap + " holds '@': part of a password? percent-encode '@' (%40), '/' (%2F) and ':' (%3A) in the password"
		}
		return &DSNError{Driver: driver, Msg: msg}
	}
	return nil
}

var kvEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// RedactedError is an error about a setting of s, sanitised like a
// parser's: a path may be key material, a value part of a password.
func RedactedError(s string, err error) error {
	return errors.New("securepg: " + Sanitize(strings.TrimPrefix(err.Error(), "securepg: "), s))
}

// ParseError replaces a parser error for s with a redacted DSNError.
func ParseError(driver, s string, err error) error {
	return &DSNError{Driver: driver, Msg: Sanitize(parserMessage(err), s)}
}

func parserMessage(err error) string {
	var pce *pgconn.ParseConfigError
	msg := err.Error()
	if errors.As(err, &pce) {
		c := *pce
		c.ConnString = ""
		msg = strings.TrimPrefix(c.Error(), "cannot parse ``: ")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = strings.Replace(msg, ue.Error(), "invalid URL: "+ue.Err.Error(), 1)
	}
	msg = serviceLine.ReplaceAllString(msg, "$1 in the service file (the line is not shown)")
	return strings.TrimPrefix(msg, "pq: ")
}

// maxMessage bounds what securepg looks at of a parser's message.
const maxMessage = 512

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|` + "`[^`]*`" + `|'[^']*'`)

// serviceLine is lib/pq's report of a bad service file line, which may hold a password.
var serviceLine = regexp.MustCompile(`(line \d+: [^"]*?) in ".*`)

// Sanitize removes from msg, a parser's or driver's message about s, every
// fragment that is or may be part of a secret of s under either driver's
// reading, and escapes what could control a terminal. A quoted fragment
// stays only when it is a keyword or the whole value of a setting that
// holds no secret; any other word that occurs in a secret, or in text the
// parser did not read, is replaced by xxxxx. Its cost is linear in len(s).
func Sanitize(msg, s string) string {
	cut := ""
	if len(msg) > maxMessage {
		msg, cut = msg[:maxMessage], " (cut)"
	}
	secrets := dsn.Secrets(s)
	var hay strings.Builder
	for _, sec := range secrets {
		hay.WriteString(sec)
		hay.WriteByte(0)
	}
	safeValues := map[string]bool{}
	for _, drv := range []string{dsn.Pgx, dsn.PQ} {
		r := dsn.Read(drv, s)
		if r.Err != nil {
			hay.WriteString(r.Tail)
			hay.WriteByte(0)
		}
		for _, p := range r.Pairs {
			safeValues[p.Value] = true
		}
	}
	secretText := hay.String()
	inSecret := func(w string) bool { return w != "" && strings.Contains(secretText, w) }
	for _, sec := range secrets {
		delete(safeValues, sec)
	}
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		inner := q[1 : len(q)-1]
		if safeWord(inner) || safeValues[inner] && len(inner) <= 64 && !inSecret(inner) {
			return q
		}
		return q[:1] + "xxxxx" + q[len(q)-1:]
	})
	msg = wordRE.ReplaceAllStringFunc(msg, func(w string) string {
		if w == "xxxxx" || safeWord(w) || len(w) < 3 || !inSecret(w) {
			return w
		}
		return "xxxxx"
	})
	return SafeText(msg) + cut
}

var wordRE = regexp.MustCompile(`[^\s"'` + "`" + `:,()=&?/@\\]+`)

// safeWord: keywords and enumerated values, which may stay in messages.
func safeWord(w string) bool {
	w = strings.TrimPrefix(w, "$")
	return dsn.IsKeyword(w) || enumWords[w]
}

var enumWords = keySet(strings.Fields(`disable allow prefer require verify-ca verify-full postgres direct any
	read-write read-only primary standby prefer-standby random 3.0 3.2 latest TLSv1 TLSv1.0 TLSv1.1
	TLSv1.2 TLSv1.3 UTF8 ISO, MDY true false yes no on off 0 1`)...)

// RedactDSN renders dsn as driver reads it, one key=value per setting,
// with every secret replaced by xxxxx and the rest escaped. A DSN the
// driver's own parser (parse) cannot read is not shown at all.
func RedactDSN(driver, s string, parse func(string) error) string {
	r := dsn.Read(driver, s)
	if r.Err != nil || CheckDSN(driver, s) != nil || parse(s) != nil {
		return "(a DSN the " + driver + " parser cannot read; not shown)"
	}
	isSecret := keySet(dsn.Secrets(s)...)
	var b strings.Builder
	for i, p := range r.Pairs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(SafeText(p.Key))
		b.WriteByte('=')
		v := p.Value
		if dsn.IsSecretKey(p.Key) || isSecret[v] || isSecret[p.Raw] {
			v = "xxxxx"
		} else {
			v = SafeText(v)
		}
		if v == "" || strings.ContainsAny(v, ` '\`) {
			v = "'" + kvEscaper.Replace(v) + "'"
		}
		b.WriteString(v)
	}
	return b.String()
}

// ParsePgx is pgx's parser, for RedactDSN.
func ParsePgx(s string) error {
	_, err := pgconn.ParseConfig(s)
	return err
}

// DSNHasPassword reports whether dsn itself, as driver reads it, carries
// a password (or sslpassword). A DSN the driver cannot read counts as
// carrying one if it mentions a password at all.
func DSNHasPassword(driver, s string) bool {
	r := dsn.Read(driver, s)
	if r.Err != nil {
		return strings.Contains(strings.ToLower(s), "pass")
	}
	for _, p := range r.Pairs {
		if dsn.IsSecretKey(p.Key) && p.Value != "" {
			return true
		}
	}
	return false
}
