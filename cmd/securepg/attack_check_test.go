package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestAttackCheckPinsWithoutVerification: SECUREPG_PIN_SHA256 with a DSN
// that verifies no chain (sslmode=require without roots, under a require
// policy) can never connect: the pins have nothing to be matched against,
// and every connection is refused with certificate_pin_mismatch. check,
// which says what will fail, says nothing of it.
func TestAttackCheckPinsWithoutVerification(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_PIN_SHA256", "LQ2WFQOrpoa8QzyBveyaaX83IEIL1iO7tperIocyPm0=")
			t.Setenv("DATABASE_URL", "host=db.example port=5432 user=u dbname=d sslmode=require")
			r := rawCLI("check", "--driver", testDriverName())
			if r.code == exitOK || !strings.Contains(r.out+r.errOut, "certificate_pin_mismatch") {
				t.Fatalf("check: exit %d, no word of the pins that cannot match:\n%s\n%s", r.code, r.out, r.errOut)
			}
		})
	}
}

// TestAttackCheckShowsHandshakeDemands: check's policy line named the
// minimum TLS version (1.2) but neither hybrid-pq, which makes it TLS 1.3
// only, nor the pins: a reader saw a weaker policy than the enforced one.
func TestAttackCheckShowsHandshakeDemands(t *testing.T) {
	labtest.IsolateEnv(t)
	t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
	t.Setenv("SECUREPG_PIN_SHA256", "LQ2WFQOrpoa8QzyBveyaaX83IEIL1iO7tperIocyPm0=")
	t.Setenv("DATABASE_URL", "host=db.example port=5432 user=u dbname=d sslmode=verify-full")
	r := rawCLI("check", "--driver", testDriverName())
	for _, want := range []string{"key exchange hybrid-pq", "1 pinned key"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("check's policy line lacks %q:\n%s", want, r.out)
		}
	}
}

// TestCheckJudgesThePassfile: check reads lib/pq's passfile as sql.Open
// does, so a password that every connect would refuse makes it refuse too
// (it said "allowed" while every connection failed); an entry for
// another host does not.
func TestCheckJudgesThePassfile(t *testing.T) {
	const dsn = "host=db.internal user=app dbname=app sslmode=require"
	for _, tc := range []struct {
		entry string
		code  int
	}{
		{"db.internal:5432:app:app:SECRET-pf", exitRefused},
		{"other.internal:*:*:*:SECRET-pf", exitOK},
	} {
		labtest.IsolateEnv(t)
		useDriver(t, "pq")
		t.Setenv("SECUREPG_MIN_SSLMODE", "require")
		pass := filepath.Join(t.TempDir(), "pgpass")
		if err := os.WriteFile(pass, []byte(tc.entry+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSFILE", pass)
		r := cli(t, dsn, "check", "--json")
		var rep checkReport
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			t.Fatal(err, r.out)
		}
		if r.code != tc.code {
			t.Fatalf("%s: exit %d, want %d: %s", tc.entry, r.code, tc.code, r.out)
		}
		if tc.code == exitRefused && (len(rep.Violations) != 1 || rep.Violations[0].Reason != "password_unverified_server") {
			t.Fatalf("violations %+v", rep.Violations)
		}
		if strings.Contains(r.out+r.errOut, "SECRET-pf") {
			t.Fatalf("the password is shown: %s%s", r.out, r.errOut)
		}
	}
}

// TestCheckSaysWhatEachBackendDoes: check's policy line does not claim
// channel binding for lib/pq, which has none, and a host tried only in
// plaintext shows no TLS minimum.
func TestCheckSaysWhatEachBackendDoes(t *testing.T) {
	for _, tc := range []struct{ drv, want string }{
		{"pgx", "password protection on (channel binding)"},
		{"pq", "password protection on (lib/pq cannot bind: no password to an unverified server)"},
	} {
		labtest.IsolateEnv(t)
		useDriver(t, tc.drv)
		if r := cli(t, "host=db.internal user=app sslmode=verify-full sslrootcert=system", "check"); !strings.Contains(r.out, tc.want) {
			t.Fatalf("%s: no %q in:\n%s", tc.drv, tc.want, r.out)
		}
	}
	labtest.IsolateEnv(t)
	t.Setenv("SECUREPG_ALLOW_LOOPBACK_PLAINTEXT", "true")
	r := cli(t, "host=127.0.0.1 user=app sslmode=disable", "check", "--json")
	var rep checkReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatal(err, r.out)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].MinTLS != "none" {
		t.Fatalf("targets %+v", rep.Targets)
	}
}
