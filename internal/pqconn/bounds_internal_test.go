package pqconn

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/securepg/securepg/internal/core"

	"github.com/securepg/securepg/lab/labtest"
)

// hostList is n distinct host names, each holding marker.
func hostList(n int) string {
	hs := make([]string, n)
	for i := range hs {
		hs[i] = "h" + strconv.Itoa(i) + marker[1:] + ".example"
	}
	return strings.Join(hs, ",")
}

// shortHosts is n distinct short host names (under MaxDSNSize for 5,000).
func shortHosts(n int) string {
	hs := make([]string, n)
	for i := range hs {
		hs[i] = "h" + strconv.Itoa(i)
	}
	return strings.Join(hs, ",")
}

// TestInputCaps: every input the gate reads is capped before a driver's
// parser runs, on both backends: each PG* variable as the DSN, passfiles
// and service files, host lists wherever they are written. The error
// names the variable or the file and never shows its content.
func TestInputCaps(t *testing.T) {
	big := strings.Repeat("x"+marker[1:], core.MaxDSNSize/len(marker)+1)
	bigFile := func(t *testing.T, name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, dsn, want string
		env             func(t *testing.T)
	}{
		{"PGHOST hosts", "", "PGHOST lists 5000 hosts", func(t *testing.T) { t.Setenv("PGHOST", shortHosts(5000)) }},
		{"PGHOST size", "", "PGHOST is", func(t *testing.T) { t.Setenv("PGHOST", hostList(5000)) }},
		{"PGHOSTADDR hosts", "", "PGHOSTADDR lists", func(t *testing.T) { t.Setenv("PGHOSTADDR", strings.Repeat("127.0.0.1,", core.MaxHosts)+"127.0.0.1") }},
		{"DSN hosts", "host=" + hostList(core.MaxHosts+1), "host (DSN) lists 101 hosts", nil},
		{"URL hosts", "postgres://" + hostList(core.MaxHosts+1) + "/db", "lists 101 hosts", nil},
		{"PGOPTIONS size", "", "PGOPTIONS is", func(t *testing.T) { t.Setenv("PGOPTIONS", big) }},
		{"PGAPPNAME size", "", "PGAPPNAME is", func(t *testing.T) { t.Setenv("PGAPPNAME", big) }},
		{"PGPASSFILE size", "", "PGPASSFILE names a file of", func(t *testing.T) { t.Setenv("PGPASSFILE", bigFile(t, "pgpass", big)) }},
		{"passfile size", "passfile=PF", "passfile (DSN) names a file of", nil},
		{"home pgpass size", "", "~/.pgpass names a file of", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(os.Getenv("HOME"), ".pgpass"), []byte(big), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"PGSERVICEFILE size", "service=s", "PGSERVICEFILE names a file of", func(t *testing.T) {
			t.Setenv("PGSERVICEFILE", bigFile(t, "svc", "[s]\n#"+big))
		}},
		{"service hosts", "service=s", "host (service file) lists 5000 hosts", func(t *testing.T) {
			t.Setenv("PGSERVICEFILE", bigFile(t, "svc", "[s]\nhost="+shortHosts(5000)+"\n"))
		}},
	} {
		for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
			t.Run(tc.name+"/"+drv, func(t *testing.T) {
				labtest.ClearPG(t)
				if tc.env != nil {
					tc.env(t)
				}
				dsn := strings.ReplaceAll(tc.dsn, "PF", bigFile(t, "pf", big))
				_, err := prepare(drv, dsn)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				if strings.Contains(err.Error(), marker[1:]) {
					t.Fatalf("the error shows the content: %.200s", err)
				}
			})
		}
	}
}

// TestHostCapCost: refusing a 5,000-host PGHOST costs little (pgx took
// 6 s and 1.5 GB to connect to one), and the longest list accepted,
// with sslrootcert=system, costs pgx's parser and securepg a bounded
// amount (pgx copies the system roots per host).
func TestHostCapCost(t *testing.T) {
	for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
		labtest.ClearPG(t)
		t.Setenv("PGHOST", shortHosts(5000))
		n := labtest.Allocated(func() { prepare(drv, "sslrootcert=system") })
		t.Logf("%s: refusing 5000 hosts: %d KiB", drv, n>>10)
		if n > 4<<20 {
			t.Errorf("%s: refusing 5000 hosts allocated %d KiB", drv, n>>10)
		}
		t.Setenv("PGHOST", hostList(core.MaxHosts))
		var err error
		n = labtest.Allocated(func() { _, err = prepare(drv, "sslrootcert=system") })
		t.Logf("%s: %d hosts with the system roots: %d KiB", drv, core.MaxHosts, n>>10)
		if err != nil || n > 32<<20 {
			t.Errorf("%s: %d hosts with the system roots: %v, %d KiB", drv, core.MaxHosts, err, n>>10)
		}
	}
}
