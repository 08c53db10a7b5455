package securepg_test

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/securepg/securepg"
	pglab "github.com/securepg/securepg/lab"
)

// TestDirectImplicitSSLModeIsUpgraded: sslnegotiation=direct with no
// sslmode anywhere (no DSN key, no PGSSLMODE, no service file) is the
// implicit case too. pgx turns its default prefer into require under
// direct; securepg upgrades it to the policy's minimum with the org roots,
// exactly as without sslnegotiation: the real PostgreSQL 18 connects at
// verify-full (the policy chose it), a self-signed impostor that speaks
// direct TLS is refused, and an explicit weaker sslmode stays refused.
func TestDirectImplicitSSLModeIsUpgraded(t *testing.T) {
	l := getLabVersion(t, newestMajor)
	impostor, err := pglab.NewDirectTLSProxy(l.Addr(), l.Certs.SelfSigned.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv+"/upgraded", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			c, err := connectorFor(drv, l.at(l.relay, "sslnegotiation=direct"), securepg.WithTracerProvider(tp))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			if err := pingFor(db, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			attrs := connectAttrs(t, rec)
			for k, want := range map[string]string{
				"securepg.sslmode": "verify-full", "securepg.sslmode.from": "policy", "securepg.tls.verification": "verify-full",
			} {
				if got := attrs[k].AsString(); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
		t.Run(drv+"/impostor", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
			db, err := sql.Open(driverName(drv), l.at(impostor, "sslnegotiation=direct"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = pingFor(db, 20*time.Second)
			var pe *securepg.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("the direct TLS impostor was accepted or not refused by the policy: %v", err)
			}
		})
		t.Run(drv+"/explicit require", func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
			_, err := sql.Open(driverName(drv), l.at(l.relay, "sslmode=require", "sslnegotiation=direct"))
			var pe *securepg.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("an explicit weaker sslmode with sslnegotiation=direct was not refused: %v", err)
			}
		})
	}
}
