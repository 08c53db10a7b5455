package core

import (
	"context"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

// TestRootsParsedOncePerContent: a root bundle is parsed once per
// content, however many materials read it; the hosts of a list share one
// version of their roots (the system's, or a file's), so the roots cost
// does not grow with the number of hosts.
func TestRootsParsedOncePerContent(t *testing.T) {
	c := genCerts(t)
	ctx := context.Background()
	a := NewMaterial("root certificates", ParseRoots, c.CAFile)
	b := NewMaterial("root certificates", ParseRoots, c.CAFile)
	must(t, a.Load(ctx))
	var err error
	n := labtest.Allocated(func() { err = b.Load(ctx) })
	must(t, err)
	if a.val != b.val || !verifies(b.val, c) {
		t.Fatal("the same bundle was parsed twice")
	}
	if n > 64<<10 {
		t.Fatalf("reading an unchanged bundle again allocated %d KiB", n>>10)
	}
	if pub, err := systemRoots(); err == nil {
		if again, _ := systemRoots(); again != pub {
			t.Fatal("the system roots were read twice")
		}
	}

	labtest.ClearPG(t)
	hosts := strings.Repeat("localhost,", MaxHosts-1) + "localhost"
	for _, root := range []string{"system", c.CAFile} {
		pc, _, err := PreparePgx("sslmode=verify-full sslrootcert="+root+" host="+hosts, DefaultPolicy())
		must(t, err)
		first := pc.entries[0].auth.Roots
		for i, e := range pc.entries {
			if e.auth == nil || e.auth.Roots != first {
				t.Fatalf("%s: attempt %d has roots of its own", root, i)
			}
		}
	}
}
