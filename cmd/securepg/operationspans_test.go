package main

import (
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestCheckInvalidOperationSpans: sql.Open rejects an invalid
// SECUREPG_OPERATION_SPANS, and so does check, naming the variable and
// not its value; a valid one changes nothing in the verdict.
func TestCheckInvalidOperationSpans(t *testing.T) {
	labtest.IsolateEnv(t)
	dsn := "host=db.example.com sslmode=verify-full sslrootcert=system"
	t.Setenv("SECUREPG_OPERATION_SPANS", "Zq7-maybe")
	r := cli(t, dsn, "check")
	if r.code != exitUsage || !strings.Contains(r.errOut, "SECUREPG_OPERATION_SPANS") {
		t.Fatalf("check with an invalid SECUREPG_OPERATION_SPANS: exit %d, %q", r.code, r.errOut)
	}
	t.Setenv("SECUREPG_OPERATION_SPANS", "false")
	if r := cli(t, dsn, "check"); r.code != exitOK {
		t.Fatalf("check with SECUREPG_OPERATION_SPANS=false: exit %d, %q %q", r.code, r.out, r.errOut)
	}
}
