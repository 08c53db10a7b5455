package core

import "sort"

// UnsupportedPQ are libpq connection keywords that lib/pq does not know:
// it would send them to the server as run-time settings (a secret such as
// sslpassword among them), so securepg refuses them before any dial.
var UnsupportedPQ = keySet(
	"require_auth", "channel_binding", "keepalives", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslcompression",
	"sslkeylogfile", "sslpassword", "sslcertmode", "sslcrl", "sslcrldir", "requirepeer", "gsslib",
	"gssdelegation", "scram_client_key", "scram_server_key", "oauth_issuer", "oauth_client_id",
	"oauth_client_secret", "oauth_scope", "requiressl", "tty",
)

// unsupportedPgx are libpq connection keywords that pgx does not know and
// would send to the server (securepg handles ssl_min/max_protocol_version).
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
