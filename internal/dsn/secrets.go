package dsn

import (
	"net/netip"
	"net/url"
	"strings"
	"unicode"
)

func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// secretKeys are the settings whose values are secrets.
var secretKeys = map[string]bool{
	"password": true, "sslpassword": true, "oauth_client_secret": true,
	"scram_client_key": true, "scram_server_key": true,
}

// IsSecretKey reports whether key's value is a secret.
func IsSecretKey(key string) bool { return secretKeys[key] }

// keywords are libpq's connection keywords (and the drivers' own): a value
// that starts with one of them and '=' is another setting that an empty
// value swallowed (host= password=...).
var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`host hostaddr port dbname database user password passfile
		require_auth channel_binding connect_timeout client_encoding options application_name
		fallback_application_name keepalives keepalives_idle keepalives_interval keepalives_count
		tcp_user_timeout replication gssencmode sslmode sslnegotiation sslcompression sslcert sslkey
		sslkeylogfile sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni requirepeer
		ssl_min_protocol_version ssl_max_protocol_version min_protocol_version max_protocol_version
		krbsrvname krbspn gsslib gssdelegation scram_client_key scram_server_key service servicefile
		target_session_attrs load_balance_hosts oauth_issuer oauth_client_id oauth_client_secret
		oauth_scope sslinline binary_parameters disable_prepared_binary_result datestyle tz geqo ssl
		requiressl tty`) {
		keywords[k] = true
	}
}

// IsKeyword reports whether k is a libpq (or pgx, or lib/pq) connection
// keyword. Keywords are safe to show.
func IsKeyword(k string) bool { return keywords[k] }

// NearKeyword is the keyword k is likely a misspelling of (one or two
// edits away: sslrootcrt, applicaton_name), or "": the drivers send a key
// they do not know to the server as a run-time parameter.
func NearKeyword(k string) string {
	if keywords[k] || len(k) < 4 || len(k) > 40 {
		return ""
	}
	best, bestD := "", 3
	for kw := range keywords {
		if len(kw) < len(k)-2 || len(kw) > len(k)+2 {
			continue
		}
		if d := editDistanceAtMost2(k, kw); d < bestD || d == bestD && kw < best {
			best, bestD = kw, d
		}
	}
	return best
}

// editDistanceAtMost2 is the edit distance of a and b when it is at most
// 2, else 3: a row whose every cell is over 2 ends the count.
func editDistanceAtMost2(a, b string) int {
	var rows [2][42]int
	prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			low = min(low, cur[j])
		}
		if low > 2 {
			return 3
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], 3)
}

// blank is a rune some parser of a DSN skips or splits on: lib/pq's
// key/value reader splits on every Unicode space (U+0085, U+00A0,
// U+2000-U+200A, U+3000...), pgx's only on the ASCII ones.
func blank(r rune) bool { return unicode.IsSpace(r) }

// swallowed reports whether v looks like another setting: a keyword, then
// '=' (blanks of any parser allowed before and after the keyword).
func swallowed(v string) (string, bool) {
	v = strings.TrimLeftFunc(v, func(r rune) bool { return blank(r) || r == '\'' || r == '"' })
	i := 0
	for i < len(v) && (v[i] >= 'a' && v[i] <= 'z' || v[i] >= 'A' && v[i] <= 'Z' || v[i] == '_' || v[i] >= '0' && v[i] <= '9') {
		i++
	}
	k := strings.ToLower(v[:i])
	rest := strings.TrimLeftFunc(v[i:], blank)
	if i > 0 && strings.HasPrefix(rest, "=") && keywords[k] {
		return k, true
	}
	return "", false
}

// assignsSecret reports whether v holds "password=" (or another secret
// keyword and '=', with blanks of any parser between them) anywhere: the
// rest of a DSN that ended up inside a value.
func assignsSecret(v string) bool {
	low := strings.ToLower(v)
	for k := range secretKeys {
		for i := 0; ; {
			j := strings.Index(low[i:], k)
			if j < 0 {
				break
			}
			i += j + len(k)
			if strings.HasPrefix(strings.TrimLeftFunc(low[i:], blank), "=") {
				return true
			}
		}
	}
	return false
}

// hidesSetting reports a keyword and '=' after a blank that pgx keeps in
// a value and lib/pq splits on (user=app<U+00A0>sslmode=disable): the
// parsers disagree on what the DSN sets. It returns the keyword.
func hidesSetting(v string) (string, bool) {
	for i, r := range v {
		if r < 0x80 || !blank(r) {
			continue
		}
		if k, ok := swallowed(v[i:]); ok {
			return k, true
		}
	}
	return "", false
}

// HasKeyMaterial reports whether v holds PEM key material.
func HasKeyMaterial(v string) bool { return strings.Contains(v, "-----BEGIN") }

// secretValue reports whether the value of key must never be shown.
func secretValue(key, v string) bool {
	if key == "" || secretKeys[key] || HasKeyMaterial(v) || strings.Contains(strings.ToLower(key), "pass") || secretKeys[NearKeyword(key)] {
		return true
	}
	if _, ok := swallowed(v); ok || assignsSecret(v) {
		return true
	}
	// A value that holds a setting for another parser (pgx's reading of
	// user=app<U+00A0>sslpassword=...): its text is the rest of the DSN.
	_, ok := hidesSetting(v)
	return ok || strings.Contains(strings.ToLower(v), "password")
}

// urlLeak reports a URL's port that is not numbers, or a host with a ':'
// outside IPv6 brackets: the rest of a password whose '@' is missing
// (postgres://u:secret/...).
func urlLeak(key, v string) bool {
	switch key {
	case "port":
		return strings.Trim(v, "0123456789, ") != ""
	case "host":
		for _, h := range strings.Split(v, ",") {
			if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") && !isIP(h) {
				return true
			}
		}
	}
	return false
}

// Secrets returns every secret of dsn under both drivers' readings: the
// values of secret keys (duplicates included), key material, and values
// that swallowed another setting, each in the forms a parser or an
// encoder may show it (as written, decoded, percent-encoded, escaped).
func Secrets(dsn string) []string {
	seen := map[string]bool{}
	done := map[string]bool{} // values whose forms are added
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, drv := range []string{Pgx, PQ} {
		r := Read(drv, dsn)
		for _, p := range r.Pairs {
			if !secretValue(canonical(p.Key), p.Value) && !secretValue(p.Key, p.Raw) && !(r.URL && urlLeak(p.Key, p.Value)) {
				continue
			}
			add(p.Raw)
			add(strings.Trim(p.Raw, "'"))
			if done[p.Value] {
				continue
			}
			done[p.Value] = true
			add(p.Value)
			add(url.QueryEscape(p.Value))
			add(url.PathEscape(p.Value))
			add(url.UserPassword("", p.Value).String()[1:])
			add(kvEscaper.Replace(p.Value))
		}
	}
	return out
}

// identifier reports a setting name the server could know: letters,
// digits, '_' and '.' (custom settings), not starting with a digit.
func identifier(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return k != ""
}

var kvEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// Trap names a setting whose value swallowed another one (the empty value
// of a template: host= password=...), or a URL whose host or database
// holds an '@' (a password with an unescaped '/' or '@'): securepg refuses
// such DSNs, as the driver would send the text to DNS, the server and the
// logs. It returns "" when there is none.
func Trap(r Reading) string {
	for _, p := range r.Pairs {
		if p.Key == "" {
			return "a value with no key (an '=' after a space)"
		}
		if !identifier(p.Key) {
			return "a setting whose name is not an identifier"
		}
		if secretKeys[canonical(p.Key)] {
			continue
		}
		if k, ok := hidesSetting(p.Value); ok {
			return p.Key + " (whose value holds " + k + "= after a non-ASCII space)"
		}
		if k, ok := swallowed(p.Value); ok {
			return p.Key + " (whose value starts with " + k + "=)"
		}
		if assignsSecret(p.Value) {
			return p.Key + " (whose value holds a password=)"
		}
	}
	if r.URL {
		for _, k := range []string{"host", "database"} {
			if strings.Contains(r.Settings[k], "@") {
				return k
			}
		}
		if urlLeak("host", r.Settings["host"]) || urlLeak("port", r.Settings["port"]) {
			return "host"
		}
	}
	return ""
}
