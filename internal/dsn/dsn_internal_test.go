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
	t.Setenv("PGUSER", envUser) // so that neither driver looks up the OS user
	t.Setenv("PGHOST", envHost)
}

// envUser and envHost are what isolate sets PGUSER and PGHOST to: a value
// a driver takes from them came from the environment, not from the DSN.
const envUser, envHost = "osuser", "defhost"

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
	// Blanks that lib/pq splits on and pgx keeps in a value.
	"user=app\u00a0password\u00a0=\u00a0Zq7-nb",
	"user=app\u0085password=Zq7-nel",
	"user=app\u1680password=Zq7-ogham",
	"user=app\u2000password=Zq7-2000",
	"user=app\u200apassword=Zq7-200a",
	"user=app\u2028password=Zq7-ls",
	"user=app\u202fpassword=Zq7-nnbsp",
	"user=app\u205fpassword=Zq7-mmsp",
	"user=app\u3000password=Zq7-ideo",
	"dbname=app\u00a0sslpassword=Zq7-ssl",
	"host=db\u00a0oauth_client_secret=Zq7-oauth",
	"user=app\vpassword=Zq7-vt",
	"user=app\fpassword=Zq7-ff",
	"user=app \u00a0password=Zq7-key",
	"password\u00a0=Zq7-keysp",
	"password=\u00a0Zq7-valsp",
	"user=app\u200bpassword=Zq7-zwsp",
	"user=app\ufeffpassword=Zq7-bom",
	"user=app\xa0password=Zq7-badutf8",
}

// pqBlanks are the runes lib/pq's key/value reader splits on
// (unicode.IsSpace) beyond the ASCII spaces pgx splits on.
var pqBlanks = []rune{0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007,
	0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000}

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
		checkCrossReadings(t, s)
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

// checkCrossReadings: what one driver reads as a password, the other may
// read as (part of) a user, database, host or setting; that value is then a
// secret too, or the DSN is a trap that securepg refuses.
func checkCrossReadings(t *testing.T, s string) {
	t.Helper()
	cfg, err1 := pgconn.ParseConfig(s)
	pc, err2 := pq.NewConfig(s)
	if err1 != nil || err2 != nil {
		return
	}
	secret := map[string]bool{}
	for _, v := range Secrets(s) {
		secret[v] = true
	}
	shown := func(drv string, password string, values ...string) {
		if len(password) < 3 || strings.Count(s, password) != 1 {
			return // a password that occurs elsewhere in s by chance
		}
		trap := Trap(Read(drv, s)) != ""
		for _, v := range values {
			if strings.Contains(v, password) && v != password && !secret[v] && !trap && v != envUser && v != envHost {
				t.Fatalf("%q: %s keeps the other driver's password in %q, which is no secret and no trap", s, drv, v)
			}
		}
	}
	pgxValues := []string{cfg.User, cfg.Database, cfg.Host}
	for _, v := range cfg.RuntimeParams {
		pgxValues = append(pgxValues, v)
	}
	shown(Pgx, pc.Password, pgxValues...)
	pqValues := []string{pc.User, pc.Database, pc.Host}
	for _, v := range pc.Runtime {
		pqValues = append(pqValues, v)
	}
	shown(PQ, cfg.Password, pqValues...)
}

// TestEveryBlankOfEitherParser: for every rune r, a DSN that hides
// password= behind r is read alike by both drivers, or the reading that
// keeps the password out of the password field is a trap (securepg refuses
// the DSN) and its value a secret. The class is found by asking the
// drivers, not from a list.
func TestEveryBlankOfEitherParser(t *testing.T) {
	isolate(t)
	var found []rune
	for r := rune(1); r <= 0x10ffff; r++ {
		if r >= 0xd800 && r <= 0xdfff || r > 0x3100 && r < 0xfe00 || r > 0xffff && r%0x100 != 0 {
			continue // surrogates; blocks with no space, sampled above the BMP
		}
		s := "user=app" + string(r) + "password" + string(r) + "=" + string(r) + "Zq7-x"
		cfg, err1 := pgconn.ParseConfig(s)
		pc, err2 := pq.NewConfig(s)
		pgxPW := err1 == nil && cfg.Password == "Zq7-x"
		pqPW := err2 == nil && pc.Password == "Zq7-x"
		if pgxPW == pqPW {
			continue
		}
		found = append(found, r)
		if pqPW && Trap(Read(Pgx, s)) == "" {
			t.Errorf("%U: lib/pq reads the password, pgx reads user=%q, and the pgx reading is no trap", r, cfg.User)
		}
		if !secretsHold(s, "Zq7-x") {
			t.Errorf("%U: Secrets(%q) = %q", r, s, Secrets(s))
		}
		checkCrossReadings(t, s)
	}
	if len(found) < len(pqBlanks) {
		t.Errorf("the drivers differ on %U, expected at least %U", found, pqBlanks)
	}
	for _, r := range pqBlanks {
		s := "host=db\u00a0x=1 user=app" + string(r) + "sslmode=disable"
		if Trap(Read(Pgx, s)) == "" {
			t.Errorf("%U: a setting hidden in a pgx value is no trap", r)
		}
	}
}

func secretsHold(s, want string) bool {
	for _, v := range Secrets(s) {
		if strings.Contains(v, want) {
			return true
		}
	}
	return false
}
