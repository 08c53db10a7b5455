package pqconn

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab/labtest"

	"github.com/lib/pq"
)

// FuzzListenerName: the DSN securepg renders for lib/pq's listener is read
// by lib/pq's own parser as exactly the planned hosts, sslmode=disable
// (securepg's dialer does TLS) and the configuration's user, password,
// database, application_name and run-time settings, whatever they hold: a
// hostile password cannot add or change a setting.
func FuzzListenerName(f *testing.F) {
	for _, s := range [][4]string{
		{"app", "pw", "db", "svc"},
		{"a b", `p'w\ host=evil sslmode=disable`, "d'b", `x\'`},
		{"u", "' host=evil port=1 '", "db ", "\t"},
		{"=", "=\\", "'", "\\"},
	} {
		f.Add(s[0], s[1], s[2], s[3], "search_path", "public")
	}
	f.Fuzz(func(t *testing.T, user, password, db, app, key, value string) {
		for _, s := range []string{user, password, db, app, key, value} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				return // lib/pq refuses these itself
			}
		}
		labtest.ClearPG(t)
		p := core.DefaultPolicy()
		p.MinSSLMode = core.ModeDisable
		pc, _, err := PreparePQ("host=db.internal,localhost port=5432,5433 sslmode=disable", p)
		if err != nil {
			t.Fatal(err)
		}
		cfg := pc.base.Clone()
		cfg.User, cfg.Password, cfg.Database, cfg.ApplicationName = user, password, db, app
		cfg.Runtime = map[string]string{}
		if key != "" && !strings.ContainsAny(key, " \t\n\r\v\f='\\") && !pqKnownKey(key) {
			cfg.Runtime[key] = value
		}
		name := pc.listenerName(cfg)
		got, err := pq.NewConfig(name)
		if err != nil {
			return // lib/pq refused it: nothing is dialed
		}
		if got.Host != "db.internal" || got.Port != 5432 || len(got.Multi) != 1 || got.Multi[0].Host != "localhost" || got.Multi[0].Port != 5433 {
			t.Fatalf("hosts %q:%d %+v from %q", got.Host, got.Port, got.Multi, name)
		}
		if got.SSLMode != pq.SSLModeDisable || got.SSLRootCert != "" || got.SSLCert != "" {
			t.Fatalf("TLS settings %q %q %q from %q", got.SSLMode, got.SSLRootCert, got.SSLCert, name)
		}
		// Empty values are left out: lib/pq's defaults apply, as for the DSN.
		for _, c := range []struct{ got, want string }{{got.User, user}, {got.Password, password}, {got.Database, db}, {got.ApplicationName, app}} {
			if c.want != "" && c.got != c.want {
				t.Fatalf("read %q, want %q, from %q", c.got, c.want, name)
			}
		}
		for k, v := range cfg.Runtime {
			if v != "" && got.Runtime[k] != v {
				t.Fatalf("run-time setting %q read %q, want %q, from %q", k, got.Runtime[k], v, name)
			}
		}
	})
}

// pqKnownKey: a connection keyword of lib/pq rather than a run-time setting.
func pqKnownKey(k string) bool {
	switch strings.ToLower(k) {
	case "host", "hostaddr", "port", "user", "password", "dbname", "sslmode", "sslrootcert", "sslcert", "sslkey",
		"sslinline", "sslsni", "sslnegotiation", "sslpassword", "sslkeylogfile", "application_name", "fallback_application_name",
		"connect_timeout", "target_session_attrs", "load_balance_hosts", "passfile", "service", "servicefile", "options",
		"client_encoding", "datestyle", "krbsrvname", "krbspn", "min_protocol_version", "max_protocol_version", "binary_parameters",
		"disable_prepared_binary_result", "requiressl", "require_auth", "channel_binding", "gssencmode":
		return true
	}
	return false
}
