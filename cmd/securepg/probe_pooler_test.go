package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"

	"github.com/securepg/securepg/lab/labtest"
)

// TestProbeBehindPooler: behind a PgBouncer whose connection to the server
// is plaintext, probe shows the pooler's certificate verified, and labels
// pg_stat_ssl's ssl=false as the pooler's connection; straight to the
// server it claims no pooler.
func TestProbeBehindPooler(t *testing.T) {
	c := labtest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := lab.StartPgBouncer(ctx, c, lab.PgBouncerConfig{ServerTLSMode: "disable"})
	if errors.Is(err, lab.ErrNoPgBouncer) {
		labtest.Unavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			dsn := b.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile)
			rep, r := probeJSON(t, dsn)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.errOut)
			}
			if tl := rep.TLS; tl == nil || tl.Verification != "verify-full" || len(tl.Chain) == 0 || !strings.Contains(tl.Chain[0].Subject, lab.PgBouncerCN) {
				t.Fatalf("tls %+v", tl)
			}
			if p := rep.Policy; p.Outcome != "allowed" || p.Verification != "verify-full" {
				t.Fatalf("policy %+v", p)
			}
			if v := rep.View; v == nil || v.SSL || !v.ViaPooler {
				t.Fatalf("server view %+v, want the pooler's plaintext leg, labelled", v)
			}
			t.Setenv("DATABASE_URL", dsn)
			tr := cli(t, "", "probe")
			for _, want := range []string{"ALLOWED", "pg_stat_ssl: ssl=false", "behind a pooler", "not this client's"} {
				if !strings.Contains(tr.out, want) {
					t.Errorf("text probe lacks %q:\n%s", want, tr.out)
				}
			}

			rep, r = probeJSON(t, c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile))
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.errOut)
			}
			if v := rep.View; v == nil || !v.SSL || v.ViaPooler {
				t.Fatalf("direct: server view %+v", v)
			}
		})
	}
}
