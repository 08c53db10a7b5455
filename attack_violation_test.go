package securepg_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
)

// TestAttackHostileCertNamesInViolation: a CA-signed certificate for the
// wrong name whose SAN carries ESC/OSC/BEL. The refusal (sql.Open on both
// backends, ConfigurePgx) and what OnViolation hears (now with Err and
// Fix) show no control character in Error(), any field, %v or %#v, while
// errors.As still reaches the raw x509.HostnameError.
func TestAttackHostileCertNamesInViolation(t *testing.T) {
	l := getLab(t)
	evil := "evil\x1b]0;owned\x07\x1b[2J.example"
	imp := certImpostor(t, l, "evil\x1b[31m\u202e", []string{evil}, net.IPv4(127, 0, 0, 2))
	dsn := l.at(imp, "sslmode=verify-full sslrootcert="+l.Certs.CAFile)
	check := func(t *testing.T, what string, err error, heard []*hooks.Violation) {
		t.Helper()
		var pe *securepg.PolicyError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: not a refusal: %v", what, err)
		}
		t.Logf("%s: %s (heard %d, Err %T)", what, pe.Error(), len(heard), pe.Err)
		var he x509.HostnameError
		if !errors.As(pe, &he) || he.Certificate == nil || he.Certificate.DNSNames[0] != evil {
			t.Errorf("%s: errors.As(x509.HostnameError) did not reach the raw cause: %#v", what, pe.Err)
		}
		texts := []string{err.Error(), pe.Error(), pe.Host, pe.Got, pe.Want, pe.Detail, pe.Fix, fmt.Sprintf("%v", pe), fmt.Sprintf("%+v", *pe), fmt.Sprintf("%#v", pe)}
		for _, v := range heard {
			texts = append(texts, v.Error(), v.Fix, v.Detail, fmt.Sprintf("%v", v), fmt.Sprintf("%+v", *v), fmt.Sprintf("%#v", v))
			if v.Err != nil {
				texts = append(texts, v.Err.Error())
			}
		}
		for _, s := range texts {
			if r := controlBytes(s); r >= 0 {
				t.Errorf("%s: %U in %q", what, r, s)
			}
		}
	}
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			h, heardAll := violationsHeard()
			c, err := connectorFor(drv, dsn, securepg.WithLogger(discardLogger()), h)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			err = db.Ping()
			heard := heardAll()
			if len(heard) == 0 {
				t.Fatal("OnViolation heard nothing")
			}
			check(t, drv, err, heard)
		})
	}
	t.Run("ConfigurePgx", func(t *testing.T) {
		isolateEnv(t)
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := securepg.ConfigurePgx(cc, securepg.WithLogger(discardLogger())); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.ConnectConfig(context.Background(), cc)
		if err == nil {
			conn.Close(context.Background())
		}
		check(t, "ConfigurePgx", err, nil)
	})
}
