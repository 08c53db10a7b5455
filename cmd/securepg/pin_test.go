package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// TestProbePins: probe shows each certificate's pin (the SPKI SHA-256 that
// SECUREPG_PIN_SHA256 takes), and its connection through the policy honours
// the pins on both backends: the leaf's pin is allowed, another refused
// with certificate_pin_mismatch. check and policy name a malformed pin's
// variable.
func TestProbePins(t *testing.T) {
	c := labtest.Shared(t)
	dsn := "host=localhost port=" + strconv.Itoa(c.Port) + " user=" + c.User + " password=" + c.Password + " dbname=" + c.Database +
		" sslmode=verify-full sslrootcert=" + c.Certs.CAFile
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_PIN_SHA256", core.SPKIHash(c.Certs.Server.Leaf))
			rep, r := probeJSON(t, dsn)
			if r.code != exitOK || rep.Policy.Outcome != "allowed" {
				t.Fatalf("exit %d: %+v %s", r.code, rep.Policy, r.errOut)
			}
			if rep.TLS == nil || len(rep.TLS.Chain) == 0 || rep.TLS.Chain[0].SPKI != core.SPKIHash(c.Certs.Server.Leaf) ||
				rep.TLS.PinMatched == nil || !*rep.TLS.PinMatched {
				t.Fatalf("tls %+v", rep.TLS)
			}
			t.Setenv("SECUREPG_PIN_SHA256", core.SPKIHash(c.Certs.WrongHost.Leaf))
			rep, r = probeJSON(t, dsn)
			if r.code != exitRefused || rep.Policy.Reason != core.ReasonPinMismatch || rep.TLS.PinMatched == nil || *rep.TLS.PinMatched {
				t.Fatalf("exit %d: %+v %+v", r.code, rep.Policy, rep.TLS)
			}
			t.Setenv("DATABASE_URL", dsn)
			if tr := cli(t, "", "probe"); !strings.Contains(tr.out, "no certificate of a verified chain has a pinned key") || !strings.Contains(tr.out, "pin (SPKI sha256) "+core.SPKIHash(c.Certs.Server.Leaf)) {
				t.Fatalf("text probe:\n%s", tr.out)
			}
		})
	}
	labtest.IsolateEnv(t)
	t.Setenv("SECUREPG_PIN_SHA256", "not a pin")
	t.Setenv("DATABASE_URL", dsn)
	for _, cmd := range []string{"check", "policy"} {
		r := cli(t, "", cmd)
		if r.code != exitUsage || !strings.Contains(r.errOut, "SECUREPG_PIN_SHA256") || strings.Contains(r.errOut, "not a pin") {
			t.Fatalf("%s: exit %d: %s", cmd, r.code, r.errOut)
		}
	}
}

// TestCheckPinsAndKeyExchange: check judges the pins and the key exchange
// as a connection would, before any dial: pins under an sslmode that
// verifies no chain can never match and are refused on both backends;
// under hybrid-pq the minimum TLS version shown is 1.3, and the policy
// line names both settings.
func TestCheckPinsAndKeyExchange(t *testing.T) {
	pin := "YyoU5FQRDO5T1x24vRwEkxUCUk8njbVxPuztP+dtx/4="
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			useDriver(t, drv)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_PIN_SHA256", pin)
			t.Setenv("DATABASE_URL", "host=db.example.internal user=app dbname=app sslmode=require")
			r := cli(t, "", "check")
			if r.code != exitRefused || !strings.Contains(r.out, core.ReasonPinMismatch) || !strings.Contains(r.out, "verifies none") {
				t.Fatalf("pins under require: exit %d: %s %s", r.code, r.out, r.errOut)
			}
			t.Setenv("SECUREPG_PIN_SHA256", "")
			t.Setenv("SECUREPG_TLS_KEY_EXCHANGE", "hybrid-pq")
			t.Setenv("DATABASE_URL", "host=db.example.internal user=app dbname=app sslmode=verify-full sslrootcert=system")
			r = cli(t, "", "check")
			if r.code != exitOK || !strings.Contains(r.out, "key exchange hybrid-pq") || !strings.Contains(r.out, "1.3 (SECUREPG_TLS_KEY_EXCHANGE=hybrid-pq)") {
				t.Fatalf("hybrid-pq: exit %d: %s %s", r.code, r.out, r.errOut)
			}
		})
	}
}

// TestCheckNotesMisspeltKeys: a DSN key one or two letters from a
// keyword (sslrootcrt, applicaton_name) is noted, with the keyword meant:
// the driver sends it to the server, and the setting is not made. A
// run-time parameter (search_path) is not noted, and no value is shown.
func TestCheckNotesMisspeltKeys(t *testing.T) {
	for _, drv := range []string{"pgx", "pq"} {
		labtest.IsolateEnv(t)
		useDriver(t, drv)
		t.Setenv("DATABASE_URL", "host=db.example.com sslmode=verify-full sslrootcert=system sslrootcrt=/x/ca.pem applicaton_name=foo search_path=app pasword=Zq7secret")
		r := cli(t, "", "check")
		for _, want := range []string{"did you mean sslrootcert?", "did you mean application_name?", "did you mean password?"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("%s: no %q:\n%s", drv, want, r.out)
			}
		}
		if strings.Contains(r.out, "search_path is not") || strings.Contains(r.out+r.errOut, "Zq7secret") {
			t.Errorf("%s:\n%s", drv, r.out)
		}
	}
}

// TestCheckSaysWhatRequireAmountsTo: sslmode=require with root
// certificates verifies the chain (verify-ca, as libpq): check shows
// both what was written and what it amounts to.
func TestCheckSaysWhatRequireAmountsTo(t *testing.T) {
	certs, err := lab.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	labtest.IsolateEnv(t)
	t.Setenv("SECUREPG_SSLROOTCERT", certs.CAFile)
	t.Setenv("DATABASE_URL", "host=db.example.com sslmode=require")
	r := cli(t, "", "check")
	if !strings.Contains(r.out, "verify-ca (DSN: sslmode=require, with root certificates)") {
		t.Fatalf("%s", r.out)
	}
}
