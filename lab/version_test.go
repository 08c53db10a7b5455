package lab_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
)

// TestServersHaveTheSameConfig: the system's server and PostgreSQL 18
// are set up alike, so that a test run against both compares the
// servers, not the lab: TLS 1.3 on, and each role logs in the way its
// name says (SCRAM, MD5, client certificate), verified against the lab CA.
func TestServersHaveTheSameConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		major int // 0: the system's (Shared)
	}{{"system", 0}, {"pg18", 18}} {
		t.Run(tc.name, func(t *testing.T) {
			c := labtest.Shared(t)
			if tc.major != 0 {
				c = labtest.SharedVersion(t, tc.major)
				if c.Major != tc.major {
					t.Fatalf("Major = %d, want %d", c.Major, tc.major)
				}
			}
			if c.Major < 15 || !strings.HasPrefix(c.Version, strconv.Itoa(c.Major)+".") {
				t.Fatalf("Version %q, Major %d", c.Version, c.Major)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			base := "host=localhost port=" + strconv.Itoa(c.Port) + " dbname=" + c.Database +
				" sslmode=verify-full sslrootcert=" + c.Certs.CAFile + " "
			for _, role := range []struct{ dsn, method string }{
				{"user=" + c.User + " password=" + c.Password, "scram"},
				{"user=" + lab.MD5User + " password=" + c.Password, "md5"},
				{"user=" + lab.ClientCN + " sslcert=" + c.Certs.Client.CertFile + " sslkey=" + c.Certs.Client.KeyFile, "cert"},
			} {
				conn, err := pgconn.Connect(ctx, base+role.dsn)
				if err != nil {
					t.Fatalf("%s role: %v", role.method, err)
				}
				res, err := conn.Exec(ctx, "SELECT s.ssl, s.version, current_user FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()").ReadAll()
				conn.Close(ctx)
				if err != nil {
					t.Fatalf("%s role: %v", role.method, err)
				}
				row := res[0].Rows[0]
				if string(row[0]) != "t" || string(row[1]) != "TLSv1.3" {
					t.Fatalf("%s role: pg_stat_ssl ssl=%s version=%s, want TLSv1.3", role.method, row[0], row[1])
				}
			}
			// The stored passwords are what the role names promise.
			admin, err := c.Admin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(context.Background())
			res, err := admin.Exec(ctx, "SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolname IN ('"+c.User+"', '"+lab.MD5User+"') ORDER BY rolname").ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range res[0].Rows {
				got[string(r[0])] = string(r[1])
			}
			if got[c.User] != "SCR" || got[lab.MD5User] != "md5" {
				t.Fatalf("stored passwords: %v, want SCRAM for %s and md5 for %s", got, c.User, lab.MD5User)
			}
		})
	}
}
