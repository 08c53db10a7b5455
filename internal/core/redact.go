package core

import (
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// DSNError reports a DSN that the underlying driver's parser rejected. Its
// text is rebuilt from the parser's message with every quoted value and
// every password-like value of the DSN removed: pgx keeps the raw DSN in a
// public field of its ParseConfigError, and lib/pq quotes values in its
// messages, so neither is ever wrapped as it is.
type DSNError struct {
	Driver string
	Msg    string
}

func (e *DSNError) Error() string {
	return "securepg: invalid DSN (" + e.Driver + " parser): " + e.Msg
}

// MaxDSNSize is the longest DSN securepg accepts: room for inline
// certificates, and a bound on what a hostile DSN can cost.
const MaxDSNSize = 64 << 10

func checkDSNSize(dsn string) error {
	if len(dsn) > MaxDSNSize {
		return &DSNError{Driver: "securepg", Msg: "the DSN is " + strconv.Itoa(len(dsn)) + " bytes; securepg accepts at most " + strconv.Itoa(MaxDSNSize)}
	}
	return nil
}

// ParseError replaces a parser error for dsn with a redacted DSNError.
func ParseError(driver, dsn string, err error) error {
	return &DSNError{Driver: driver, Msg: sanitize(parserMessage(err), dsn)}
}

func parserMessage(err error) string {
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		c := *pce
		c.ConnString = ""
		msg := strings.TrimPrefix(c.Error(), "cannot parse ``: ")
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = strings.Replace(msg, ue.Error(), "invalid URL: "+ue.Err.Error(), 1)
		}
		return msg
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = strings.Replace(msg, ue.Error(), "invalid URL: "+ue.Err.Error(), 1)
	}
	return strings.TrimPrefix(msg, "pq: ")
}

var quoted = regexp.MustCompile("\"[^\"]*\"|`[^`]*`|'[^']*'")

// safeWords may stay inside quotes: keywords and enumerated values.
var safeWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`host hostaddr port dbname database user password passfile options
		application_name fallback_application_name connect_timeout client_encoding sslmode sslnegotiation
		sslcert sslkey sslrootcert sslpassword sslsni sslcertmode sslcrl sslcrldir sslinline
		ssl_min_protocol_version ssl_max_protocol_version krbsrvname krbspn gssencmode service servicefile
		target_session_attrs load_balance_hosts min_protocol_version max_protocol_version channel_binding
		require_auth datestyle tz geqo binary_parameters disable_prepared_binary_result
		disable allow prefer require verify-ca verify-full postgres direct any read-write read-only primary
		standby prefer-standby random 3.0 3.2 latest TLSv1 TLSv1.0 TLSv1.1 TLSv1.2 TLSv1.3 sslkey sslcert
		= UTF8 ISO,`) {
		safeWords[w] = true
	}
}

// sanitize removes from msg every quoted value that is not a keyword, and
// every password candidate found in dsn.
func sanitize(msg, dsn string) string {
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		inner := q[1 : len(q)-1]
		if safeWords[inner] || safeWords[strings.TrimPrefix(inner, "$")] {
			return q
		}
		return q[:1] + "xxxxx" + q[len(q)-1:]
	})
	return scrub(msg, secretCandidates(dsn))
}

// scrub replaces every password candidate in text, in its raw and escaped
// forms, and then every remaining word that is part of a candidate: a
// parser or an encoder may show part of a value, or change its escaping.
func scrub(text string, cands []string) string {
	for _, c := range cands {
		for _, form := range []string{c, url.PathEscape(c), url.QueryEscape(c)} {
			text = strings.ReplaceAll(text, form, "xxxxx")
		}
	}
	return tokenRE.ReplaceAllStringFunc(text, func(tok string) string {
		if len(tok) < 4 || safeWords[tok] || tok == "xxxxx" {
			return tok
		}
		plain, err := url.PathUnescape(tok)
		if err != nil {
			plain = tok
		}
		for _, c := range cands {
			if strings.Contains(c, tok) || strings.Contains(c, plain) {
				return "xxxxx"
			}
		}
		return tok
	})
}

// tokenRE matches the words of a parser message.
var tokenRE = regexp.MustCompile(`[^\s"'` + "`" + `:,()=]+`)

// secretCandidates lists, longest first, every string in dsn that might be
// a password under any reading of a possibly malformed DSN.
func secretCandidates(dsn string) []string {
	set := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) >= 3 {
			set[s] = true
		}
		if u, err := url.PathUnescape(s); err == nil && len(u) >= 3 {
			set[u] = true
		}
	}
	if rest, ok := cutScheme(dsn); ok {
		// Every reading of the authority: userinfo ends at the last '@'
		// before the path, or at the first one.
		auth := rest
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		// A port that is not a number may be a password whose '@' is
		// missing.
		if host := auth[strings.LastIndex(auth, "@")+1:]; strings.Contains(host, ":") {
			for _, part := range strings.Split(host, ":")[1:] {
				if strings.Trim(part, "0123456789,]") != "" {
					add(part)
				}
			}
		}
		for _, at := range []int{strings.LastIndex(rest, "@"), strings.LastIndex(auth, "@"), strings.Index(rest, "@")} {
			if at < 0 {
				continue
			}
			ui := rest[:at]
			if _, pw, ok := strings.Cut(ui, ":"); ok {
				add(pw)
				for _, part := range strings.Split(pw, ":") {
					add(part)
				}
			}
		}
		// Query parameters named like passwords.
		if _, q, ok := strings.Cut(rest, "?"); ok {
			for _, kv := range strings.Split(q, "&") {
				k, v, _ := strings.Cut(kv, "=")
				if isSecretKey(k) {
					add(v)
				}
			}
		}
	}
	// Keyword/value readings (also applied to URLs, harmlessly).
	for _, key := range []string{"password", "sslpassword"} {
		for i := 0; ; {
			j := strings.Index(dsn[i:], key)
			if j < 0 {
				break
			}
			i += j + len(key)
			rest := strings.TrimLeft(dsn[i:], " \t\n\r")
			if !strings.HasPrefix(rest, "=") {
				continue
			}
			rest = strings.TrimLeft(rest[1:], " \t\n\r")
			add(rest)
			if strings.HasPrefix(rest, "'") {
				body := rest[1:]
				if end := strings.Index(body, "'"); end >= 0 {
					add(body[:end])
				}
				add(body)
			}
			if end := strings.IndexAny(rest, " \t\n\r"); end >= 0 {
				add(rest[:end])
			}
			add(strings.ReplaceAll(rest, `\`, ""))
			if end := strings.IndexAny(rest, " \t\n\r"); end >= 0 {
				add(strings.ReplaceAll(rest[:end], `\`, ""))
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func isSecretKey(k string) bool {
	k, _ = url.QueryUnescape(k)
	return k == "password" || k == "sslpassword"
}

func cutScheme(dsn string) (string, bool) {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(dsn, p) {
			return dsn[len(p):], true
		}
	}
	return "", false
}

// RedactDSN returns dsn with its passwords replaced by xxxxx, for display.
// A DSN that cannot be read safely is replaced entirely.
func RedactDSN(dsn string) string {
	if _, ok := cutScheme(dsn); ok {
		u, err := url.Parse(dsn)
		if err != nil || !validHostList(u.Host) {
			return "postgres://(unparseable URL, not shown)"
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		q := u.Query()
		for k := range q {
			if isSecretKey(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return passwordLike.ReplaceAllString(u.String(), "${1}xxxxx")
	}
	pairs, ok := splitKeywordValue(dsn)
	if !ok {
		return "(unparseable keyword/value string, not shown)"
	}
	var secrets []string
	for _, kv := range pairs {
		if isSecretKey(kv[0]) && len(kv[1]) >= 4 {
			secrets = append(secrets, kv[1])
		}
	}
	var b strings.Builder
	for i, kv := range pairs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		v := kv[1]
		if isSecretKey(kv[0]) {
			v = "xxxxx"
		}
		if v == "" || strings.ContainsAny(v, ` '\`) {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		b.WriteString(v)
	}
	out := b.String()
	for _, s := range secrets { // a password may also stand as another value
		out = strings.ReplaceAll(out, s, "xxxxx")
	}
	return passwordLike.ReplaceAllString(out, "${1}xxxxx")
}

// passwordLike is "password=value" anywhere, also inside another value or
// URL-encoded: what a reader would take for a password is not shown, even
// where the parser reads it otherwise.
var passwordLike = regexp.MustCompile(`(?i)(password\s*(?:=|%3D)\s*)('[^']*'?|[^\s&+]*)`)

// validHostList accepts a URL authority's host part as libpq reads it: a
// comma-separated list of host[:port] or [ipv6][:port] with numeric ports.
func validHostList(hosts string) bool {
	for _, h := range strings.Split(hosts, ",") {
		port := ""
		if strings.HasPrefix(h, "[") {
			end := strings.Index(h, "]")
			if end < 0 {
				return false
			}
			port = strings.TrimPrefix(h[end+1:], ":")
			if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
				return false
			}
		} else if i := strings.Index(h, ":"); i >= 0 {
			port = h[i+1:]
		}
		if strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	return true
}

// splitKeywordValue reads a libpq keyword/value string into ordered pairs.
func splitKeywordValue(s string) ([][2]string, bool) {
	var out [][2]string
	i := 0
	skip := func() {
		for i < len(s) && strings.IndexByte(" \t\n\r\v\f", s[i]) >= 0 {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return out, true
		}
		start := i
		for i < len(s) && s[i] != '=' && strings.IndexByte(" \t\n\r\v\f", s[i]) < 0 {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, false
		}
		i++
		skip()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i >= len(s) {
					return nil, false
				}
				c := s[i]
				i++
				if c == '\'' {
					break
				}
				if c == '\\' {
					if i >= len(s) {
						return nil, false
					}
					c = s[i]
					i++
				}
				v.WriteByte(c)
			}
		} else {
			for i < len(s) && strings.IndexByte(" \t\n\r\v\f", s[i]) < 0 {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				v.WriteByte(c)
			}
		}
		out = append(out, [2]string{key, v.String()})
	}
}

// DSNHasPassword reports whether dsn itself carries a password: a
// password (or sslpassword) keyword, URL userinfo with a password, or a
// password query parameter. A DSN that cannot be read safely counts as
// carrying one if it mentions a password anywhere.
func DSNHasPassword(dsn string) bool {
	if _, ok := cutScheme(dsn); ok {
		u, err := url.Parse(dsn)
		if err != nil {
			return strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password")
		}
		if u.User != nil {
			if pw, has := u.User.Password(); has && pw != "" {
				return true
			}
		}
		for k, vs := range u.Query() {
			for _, v := range vs {
				if isSecretKey(k) && v != "" {
					return true
				}
			}
		}
		return false
	}
	pairs, ok := splitKeywordValue(dsn)
	if !ok {
		return strings.Contains(strings.ToLower(dsn), "password")
	}
	for _, kv := range pairs {
		if isSecretKey(kv[0]) && kv[1] != "" {
			return true
		}
	}
	return false
}
