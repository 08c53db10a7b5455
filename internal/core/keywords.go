package core

import "sort"

// UnsupportedPQ are libpq connection keywords that lib/pq does not know:
// its parser would forward them to the server as run-time settings, where
// they fail (and a secret among them, such as sslpassword, would travel to
// the server, in cleartext where the policy allows it). securepg refuses
// them before anything is dialed.
var UnsupportedPQ = keySet(
	"require_auth", "channel_binding", "keepalives", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslcompression",
	"sslkeylogfile", "sslpassword", "sslcertmode", "sslcrl", "sslcrldir", "requirepeer", "gsslib",
	"gssdelegation", "scram_client_key", "scram_server_key", "oauth_issuer", "oauth_client_id",
	"oauth_client_secret", "oauth_scope", "requiressl", "tty",
)

// unsupportedPgx are libpq connection keywords that pgx does not know: it
// sends them to the server as run-time settings, which the server rejects.
// securepg handles ssl_min_protocol_version and ssl_max_protocol_version
// itself, on the client, and so does not list them.
var unsupportedPgx = keySet(
	"hostaddr", "load_balance_hosts", "keepalives", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslcompression",
	"sslkeylogfile", "sslcrl", "sslcrldir", "requirepeer", "gsslib", "gssdelegation",
	"scram_client_key", "scram_server_key", "oauth_issuer", "oauth_client_id",
	"oauth_client_secret", "oauth_scope", "requiressl", "tty", "fallback_application_name",
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// UnsupportedKeys returns, sorted, the keys of params that the driver
// would send to the server although they are libpq connection keywords.
func UnsupportedKeys(unsupported map[string]bool, params map[string]string) []string {
	var out []string
	for k := range params {
		if unsupported[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
