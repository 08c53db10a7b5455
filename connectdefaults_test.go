package securepg_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/securepg/securepg/internal/core"
)

// TestDefaultApplicationName: when neither the DSN nor PGAPPNAME (nor a
// service file) names the application, the server's pg_stat_activity
// shows SECUREPG_APPLICATION_NAME, else the executable's name; what the
// configuration names wins. Both backends, on the real server.
func TestDefaultApplicationName(t *testing.T) {
	l := getLab(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, extra, want string
			env               map[string]string
		}{
			{name: "executable", want: filepath.Base(exe)},
			{name: "policy", env: map[string]string{"SECUREPG_APPLICATION_NAME": "billing-api"}, want: "billing-api"},
			{name: "policy, not ASCII", env: map[string]string{"SECUREPG_APPLICATION_NAME": "café\tx"}, want: "caf??x"},
			{name: "DSN", extra: "application_name=from-dsn", env: map[string]string{"SECUREPG_APPLICATION_NAME": "billing-api"}, want: "from-dsn"},
			{name: "PGAPPNAME", env: map[string]string{"PGAPPNAME": "from-env", "SECUREPG_APPLICATION_NAME": "billing-api"}, want: "from-env"},
			{name: "fallback", extra: "fallback_application_name=fallback", want: "fallback"}, // lib/pq only
		} {
			if tc.name == "fallback" && drv == "pgx" {
				continue // pgx does not know fallback_application_name, and securepg refuses it there
			}
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				db, err := sql.Open(driverName(drv), l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile, tc.extra))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var got string
				if err := db.QueryRow("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("application_name %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// TestConnectTimeoutPlan: the connect timeout each backend gets, and who
// set it: the DSN's and PGCONNECT_TIMEOUT's connect_timeout (0 waits
// forever, as in libpq), else the policy's, 10 s by default.
func TestConnectTimeoutPlan(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		for _, tc := range []struct {
			name, dsn string
			env       map[string]string
			want      time.Duration
			source    string
		}{
			{name: "default", dsn: "host=db sslmode=verify-full", want: 10 * time.Second, source: "default"},
			{name: "policy", dsn: "host=db sslmode=verify-full", env: map[string]string{"SECUREPG_CONNECT_TIMEOUT": "3"}, want: 3 * time.Second, source: "SECUREPG_CONNECT_TIMEOUT"},
			{name: "policy forever", dsn: "host=db sslmode=verify-full", env: map[string]string{"SECUREPG_CONNECT_TIMEOUT": "0"}, want: 0, source: "SECUREPG_CONNECT_TIMEOUT"},
			{name: "DSN", dsn: "host=db sslmode=verify-full connect_timeout=4", env: map[string]string{"SECUREPG_CONNECT_TIMEOUT": "3"}, want: 4 * time.Second, source: "DSN"},
			{name: "DSN forever", dsn: "host=db sslmode=verify-full connect_timeout=0", want: 0, source: "DSN"},
			{name: "PGCONNECT_TIMEOUT", dsn: "host=db sslmode=verify-full", env: map[string]string{"PGCONNECT_TIMEOUT": "5"}, want: 5 * time.Second, source: "PGCONNECT_TIMEOUT"},
		} {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				isolateEnv(t)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				p, err := core.PolicyFromEnv()
				if err != nil {
					t.Fatal(err)
				}
				p.Driver = drv
				_, plan, err := core.Prepare(tc.dsn, p)
				if err != nil {
					t.Fatal(err)
				}
				if plan.ConnectTimeout != tc.want || plan.ConnectTimeoutSource != tc.source {
					t.Fatalf("timeout %v from %q, want %v from %q", plan.ConnectTimeout, plan.ConnectTimeoutSource, tc.want, tc.source)
				}
			})
		}
	}
}

// TestConnectSpanSaysHowItConnects: the connect span carries the bound on
// each connect and the application_name the server sees.
func TestConnectSpanSaysHowItConnects(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_APPLICATION_NAME", "billing-api")
			s := newSDK(t)
			s.openVerified(t, l, drv)
			spans := s.ended("securepg.connect")
			if len(spans) != 1 {
				t.Fatalf("%d connect spans", len(spans))
			}
			wantAttrs(t, spanAttrs(spans[0]), map[string]any{"securepg.connect.timeout": 10.0, "securepg.application_name": "billing-api"})
		})
	}
}
