package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// TestAttackProbeDialsAHostOutsideTheAllowList: sql.Open refuses a DSN
// naming a host outside SECUREPG_ALLOWED_HOSTS before anything is dialed,
// and so does probe --targets (JudgePlan first: "nothing is sent"). The
// single-target probe does not judge the plan first: it dials the host,
// sends the SSLRequest and a ClientHello (and, to a server whose
// certificate verifies, a startup message with the user and database
// names), and only then reports host_not_allowed.
func TestAttackProbeDialsAHostOutsideTheAllowList(t *testing.T) {
	labtest.IsolateEnv(t)
	dir := t.TempDir()
	certs, err := lab.GenerateCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted, bytesIn atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 512)
			n, _ := c.Read(b)
			bytesIn.Add(int64(n))
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	t.Setenv("SECUREPG_ALLOWED_HOSTS", "db.allowed.example")
	dsn := "host=localhost port=" + port + " user=app dbname=app sslmode=verify-full sslrootcert=" + certs.CAFile
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			useDriver(t, drv)
			accepted.Store(0)
			bytesIn.Store(0)
			t.Setenv("DATABASE_URL", dsn)
			r := cli(t, "", "probe", "--json")
			if r.code == exitOK {
				t.Fatalf("probe allowed a host outside SECUREPG_ALLOWED_HOSTS: %s", r.out)
			}
			if n := accepted.Load(); n > 0 {
				t.Errorf("FINDING: probe dialed a host outside SECUREPG_ALLOWED_HOSTS %d times and sent it %d bytes before refusing (sql.Open and probe --targets send nothing)", n, bytesIn.Load())
			}
			if tr := cli(t, "", "probe"); tr.code == exitOK || !strings.Contains(tr.out, "host_not_allowed") {
				t.Errorf("text probe: exit %d: %s %s", tr.code, tr.out, tr.errOut)
			}
			// probe --targets, for comparison: judged before any dial.
			accepted.Store(0)
			tf := filepath.Join(t.TempDir(), "targets")
			os.WriteFile(tf, []byte(dsn+"\n"), 0o600)
			cli(t, "", "probe", "--json", "--targets", tf)
			if n := accepted.Load(); n > 0 {
				t.Errorf("probe --targets dialed %d times", n)
			}
		})
	}
}
