package dsn

import (
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
)

// isolate keeps the drivers' parsers from the machine: no PG* variables,
// an empty HOME (no passfile, service file or certificates).
func isolate(t testing.TB) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PGUSER", "osuser") // so that neither driver looks up the OS user
	t.Setenv("PGHOST", "defhost")
}

var seeds = []string{
	"host=db port=5432 user=app password=Zq7-pw dbname=app sslmode=verify-full",
	"host= password=Zq7-pw sslmode=disable",
	"user= password=Zq7-pw",
	"dbname= password=Zq7-pw",
	"host=db password=Zq7-a\u00a0sslmode=disable",
	"host=db password='Zq7 with space' user=x",
	`host=db password=Zq7\ esc\'aped user=x`,
	`password='Zq7\'q'`,
	"password=Zq7 pw x=1",
	"password = Zq7 host = db",
	"host=a,b port=1,2 sslmode=prefer",
	"sslmode=verify-full sslmode=disable",
	"postgres://u:Zq7-pw@db:5432/app?sslmode=verify-full",
	"postgresql://u:Zq7%2Fpw@db/app?sslmode=require&sslmode=disable",
	"postgres://u:Zq7/pw@db/app",
	"postgres://u:12/Zq7@db/app",
	"postgres://db/app?password=Zq7-q&user=u",
	"postgres://db/app?pass%77ord=Zq7-enc",
	"postgres://db/app?password%20=Zq7-sp",
	"postgres://[::1]:5432,h2:6/db?ssl=true",
	"postgres://db/app?ssl=true&sslmode=disable",
	"postgres://db/app?sslmode=disable&ssl=true",
	"postgres://u@h?x=a@b",
	"host=db dbname=a database=b",
	"database=b dbname=a",
	"user=a user=",
	"host=db sslinline=true sslkey='-----BEGIN PRIVATE KEY-----\nZq7\n-----END PRIVATE KEY-----'",
	"connect_timeout=ten",
	"host='unterminated",
	`host=trailing\`,
	"=x",
	"key",
	"",
}

// FuzzReadersAgreeWithTheDrivers holds the readers to the drivers'
// parsers: whatever a driver accepts, the reader reads without error and
// finds the same password, user, database and first host; whatever the
// reader refuses, the driver refuses too.
func FuzzReadersAgreeWithTheDrivers(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	isolate(f)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "service") || strings.Contains(s, "passfile") {
			return // files of the machine: not tokenisation
		}
		pgr := Read(Pgx, s)
		cfg, err := pgconn.ParseConfig(s)
		if pgr.Err != nil && err == nil {
			t.Fatalf("pgx accepts %q; the reader fails: %v", s, pgr.Err)
		}
		if err == nil {
			want := map[string]string{"password": cfg.Password, "user": cfg.User, "database": cfg.Database}
			for k, w := range want {
				got, ok := pgr.Settings[k]
				if k == "user" && !ok {
					got = "osuser"
				}
				if got != w {
					t.Fatalf("pgx reads %s=%q in %q; the reader %q", k, w, s, got)
				}
			}
			if h := pgr.Settings["host"]; h != "" && strings.Split(h, ",")[0] != "" && strings.Split(h, ",")[0] != cfg.Host {
				t.Fatalf("pgx reads host=%q in %q; the reader %q", cfg.Host, s, h)
			}
		}
		pqr := Read(PQ, s)
		pc, err := pq.NewConfig(s)
		if pqr.Err != nil && err == nil {
			t.Fatalf("lib/pq accepts %q; the reader fails: %v", s, pqr.Err)
		}
		if err == nil {
			want := map[string]string{"password": pc.Password, "database": pc.Database}
			for k, w := range want {
				if got := pqr.Settings[k]; got != w {
					t.Fatalf("lib/pq reads %s=%q in %q; the reader %q", k, w, s, got)
				}
			}
			if u, ok := pqr.Settings["user"]; ok && u != pc.User {
				t.Fatalf("lib/pq reads user=%q in %q; the reader %q", pc.User, s, u)
			}
			if h, ok := pqr.Settings["host"]; ok && h != "" && strings.Split(h, ",")[0] != pc.Host {
				t.Fatalf("lib/pq reads host=%q in %q; the reader %q", pc.Host, s, h)
			}
		}
	})
}

func TestTrap(t *testing.T) {
	for _, tc := range []struct {
		dsn, drv string
		trap     bool
	}{
		{"host= password=Zq7", Pgx, true},
		{"host= password=Zq7", PQ, true},
		{"user= password=Zq7", PQ, true},
		{"dbname= password = Zq7", PQ, true}, // pgx fails to parse it
		{"host='' password=Zq7", Pgx, false},
		{"password=user=x", Pgx, false},
		{"options='-c search_path=x'", Pgx, false},
		{"postgres://u:12/Zq7@db/app", Pgx, true},
		{"postgres://u:12/Zq7@db/app", PQ, true},
		{"postgres://u:p@ss@h/db", Pgx, true},
		{"postgres://u:p%40ss@h/db", Pgx, false},
	} {
		if got := Trap(Read(tc.drv, tc.dsn)) != ""; got != tc.trap {
			t.Errorf("Trap(%s, %q) = %v", tc.drv, tc.dsn, got)
		}
	}
}

func TestSecretsCoverEveryReading(t *testing.T) {
	for _, tc := range []struct {
		dsn    string
		secret string
	}{
		{"host=db password=Zq7-a\u00a0sslmode=disable", "Zq7-a"},              // lib/pq splits on NBSP
		{"host=db password=Zq7-a\u00a0sslmode=disable", "Zq7-a\u00a0sslmode"}, // pgx does not
		{"host= password=Zq7-b", "password=Zq7-b"},
		{"postgres://db/app?password%20=Zq7-c", "Zq7-c"},
		{"postgres://db/app?pass%77ord=Zq7-d", "Zq7-d"},
		{"postgres://u:Zq7%2Fe@db/app", "Zq7/e"},
		{"host=db sslinline=true sslkey='-----BEGIN PRIVATE KEY-----\nZq7\n-----END'", "-----BEGIN PRIVATE KEY-----\nZq7\n-----END"},
		{"password=Zq7-f password=Zq7-g", "Zq7-f"},
	} {
		found := false
		for _, s := range Secrets(tc.dsn) {
			if strings.Contains(s, tc.secret) {
				found = true
			}
		}
		if !found {
			t.Errorf("Secrets(%q) = %q misses %q", tc.dsn, Secrets(tc.dsn), tc.secret)
		}
	}
}
