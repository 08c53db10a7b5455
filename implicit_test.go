package securepg_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestImplicitSSLModeIsUpgraded: a configuration that sets no sslmode
// (no DSN key, no PGSSLMODE, no service file) gets the policy's minimum
// with the org roots, on both backends, and really verifies with them: the
// real server connects at verify-full (spans say the policy chose it), a
// self-signed impostor and one with another host's certificate are
// refused. An sslmode someone wrote is judged, not upgraded. With no roots
// anywhere, sql.Open refuses before dialing and the fix names the one
// thing to set.
func TestImplicitSSLModeIsUpgraded(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"securepg", "securepg-pq"} {
		t.Run(drv+"/upgraded", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			c, err := securepg.NewConnector(l.at(l.relay), securepg.WithTracerProvider(tp), pinBackend(drv))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := pingFor(db, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			attrs := connectAttrs(t, rec)
			if got := attrs["securepg.sslmode"].AsString(); got != "verify-full" {
				t.Errorf("securepg.sslmode = %q, want verify-full", got)
			}
			if got := attrs["securepg.sslmode.from"].AsString(); got != "policy" {
				t.Errorf("securepg.sslmode.from = %q, want policy", got)
			}
			if got := attrs["securepg.tls.verification"].AsString(); got != "verify-full" {
				t.Errorf("securepg.tls.verification = %q, want verify-full", got)
			}
		})
		for _, peer := range []struct {
			name  string
			proxy *pglab.Proxy
		}{{"self-signed", l.selfSigned}, {"wrong host", l.wrongHost}} {
			t.Run(drv+"/impostor "+peer.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
				db, err := sql.Open(drv, l.at(peer.proxy))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				err = pingFor(db, 20*time.Second)
				var pe *securepg.PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("the impostor was accepted or not refused by the policy: %v", err)
				}
			})
		}
		for _, explicit := range []struct {
			name, dsn string
			env       func(t *testing.T)
		}{
			{"DSN prefer", "sslmode=prefer", nil},
			{"DSN require", "sslmode=require", nil},
			{"PGSSLMODE", "", func(t *testing.T) { t.Setenv("PGSSLMODE", "require") }},
			{"service file", "service=s", func(t *testing.T) { writeService(t, "[s]\nsslmode=require\n") }},
		} {
			t.Run(drv+"/explicit "+explicit.name, func(t *testing.T) {
				isolateEnv(t)
				t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
				if explicit.env != nil {
					explicit.env(t)
				}
				_, err := sql.Open(drv, l.at(l.relay, explicit.dsn))
				var pe *securepg.PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("an explicit weaker sslmode was not refused: %v", err)
				}
				if strings.Contains(err.Error(), "SECUREPG_SSLROOTCERT") {
					t.Errorf("the fix suggests SECUREPG_SSLROOTCERT, which is set: %v", err)
				}
			})
		}
		t.Run(drv+"/no roots", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("HOME", t.TempDir()) // no ~/.postgresql/root.crt
			relay, err := pglab.NewRelay(l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			_, err = sql.Open(drv, l.at(relay))
			var pe *securepg.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("no roots to verify with, and sql.Open did not refuse: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "set SECUREPG_SSLROOTCERT") || strings.Contains(msg, "set sslmode=") {
				t.Errorf("the fix should name SECUREPG_SSLROOTCERT alone: %s", msg)
			}
			if n := relay.Accepted(); n != 0 {
				t.Errorf("%d connections dialed", n)
			}
		})
	}

	// pgx's default (prefer) would fall back to plaintext: under a
	// minimum of require the upgrade removes that attempt, so a peer that
	// refuses TLS gets nothing, while the real server connects over TLS.
	t.Run("pgx/require drops the plaintext fallback", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		t.Setenv("SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true")
		db, err := sql.Open("securepg", l.at(l.strip))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := pingFor(db, 20*time.Second); err == nil {
			t.Fatal("a server that refuses TLS was reached: the plaintext fallback stayed")
		}
		db2, err := sql.Open("securepg", l.at(l.relay))
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		if err := pingFor(db2, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	// ConfigurePgx: the same upgrade for a configuration built in code.
	t.Run("ConfigurePgx", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, peer := range []struct {
			proxy *pglab.Proxy
			ok    bool
		}{{l.relay, true}, {l.selfSigned, false}} {
			cc, err := pgx.ParseConfig(l.at(peer.proxy))
			if err != nil {
				t.Fatal(err)
			}
			if err := securepg.ConfigurePgx(cc); err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.ConnectConfig(ctx, cc)
			if (err == nil) != peer.ok {
				t.Fatalf("connect to %s: %v, want ok=%v", peer.proxy.Addr(), err, peer.ok)
			}
			if conn != nil {
				conn.Close(ctx)
			}
		}
	})
}

// pinBackend is the option that picks the backend a driver name picks.
func pinBackend(drv string) securepg.Option {
	if drv == "securepg-pq" {
		return withBackend("pq")
	}
	return withBackend("pgx")
}

func pingFor(db *sql.DB, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return db.PingContext(ctx)
}

// connectAttrs are the attributes of the one connect span rec saw.
func connectAttrs(t *testing.T, rec *tracetest.SpanRecorder) map[string]attribute.Value {
	t.Helper()
	for _, sp := range rec.Ended() {
		if sp.Name() == "securepg.connect" {
			out := map[string]attribute.Value{}
			for _, kv := range sp.Attributes() {
				out[string(kv.Key)] = kv.Value
			}
			return out
		}
	}
	t.Fatal("no connect span")
	return nil
}
