package dsn

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgservicefile"
	"github.com/lib/pq"
)

var serviceSeeds = []struct{ file, name string }{
	{"[s]\nhost=db\nsslmode=verify-full\npassword=Zq7-pw\n", "s"},
	{"[s]\nsslmode=require\n[s]\nsslmode=disable\n", "s"},
	{"[ s ]\nhost=db\n", "s"},
	{"[s]\r\nhost = db \r\n# c\r\n\r\nuser=u\r\n", "s"},
	{"stray=1\n[s]\nhost=db\n", "s"},
	{"[other]\nno equals\n[s]\nhost=db\n", "s"},
	{"[s]\nhost=db\n[t]\nnot a setting\n", "s"},
	{"[s]\n=x\n", "s"},
	{"[s]\ninclude /etc/other.conf\n", "s"},
	{"[s]\n; a comment?\n", "s"},
	{"[s\x00]\nhost=db\n", "s\x00"},
	{"[s\x1b[31m]\nhost=db\n", "s\x1b[31m"},
	{"[s]\nhost=db\x00evil\npassword=a=b\n", "s"},
	{"[s]\ndbname=x\ndatabase=y\n", "s"},
	{"\ufeff[s]\nhost=db\n", "s"},
	{"[s]\n\u00a0host\u00a0=\u00a0db\u00a0\n", "s"},
	{"[s]\nhost=a\nhost=b\n", "s"},
	{"[]\nhost=db\n", ""},
	{"[s]\nhost=db\n" + strings.Repeat("x", 70000) + "\n", "s"},
	{strings.Repeat("y", 70000) + "\n[s]\nhost=db\n", "s"},
	{"[s]", "s"},
	{"", "s"},
}

// TestServiceReadsAsTheDrivers: the table of FuzzServiceReadersAgree,
// and the cap.
func TestServiceReadsAsTheDrivers(t *testing.T) {
	isolate(t)
	for _, s := range serviceSeeds {
		checkService(t, s.file, s.name)
	}
	if _, err := Service(Pgx, make([]byte, MaxServiceFileSize+1), "s"); err == nil {
		t.Fatal("a service file over the cap was read")
	}
	got, _ := Service(PQ, []byte("[s]\nsslmode=require\n[s]\nsslmode=disable\n"), "s")
	if got["sslmode"] != "require" {
		t.Fatalf("lib/pq reads the first section of a name: %v", got)
	}
	got, _ = Service(Pgx, []byte("[s]\nsslmode=require\n[s]\nsslmode=disable\n"), "s")
	if got["sslmode"] != "disable" {
		t.Fatalf("pgx reads the last section of a name: %v", got)
	}
}

// FuzzServiceReadersAgree holds Service to pgx's pgservicefile and to
// lib/pq's own reading (pq.NewConfig with PGSERVICEFILE).
func FuzzServiceReadersAgree(f *testing.F) {
	for _, s := range serviceSeeds {
		f.Add(s.file, s.name)
	}
	isolate(f)
	f.Fuzz(func(t *testing.T, file, name string) {
		if len(file) > MaxServiceFileSize {
			return
		}
		checkService(t, file, name)
	})
}

func checkService(t *testing.T, file, name string) {
	t.Helper()
	// pgx: pgservicefile, then pgconn's canonical key (database).
	got, err := Service(Pgx, []byte(file), name)
	var want map[string]string
	sf, werr := pgservicefile.ParseServicefile(bytes.NewReader([]byte(file)))
	if werr == nil {
		var svc *pgservicefile.Service
		if svc, werr = sf.GetService(name); werr == nil {
			want = map[string]string{}
			for k, v := range svc.Settings {
				if k == "dbname" {
					k = "database"
				}
				want[k] = v
			}
			if _, ok := svc.Settings["database"]; ok {
				if _, ok := svc.Settings["dbname"]; ok {
					want["dbname"] = "" // marks the case pgx leaves to map order
				}
			}
		}
	}
	if _, both := want["dbname"]; both && got != nil {
		// dbname and database both: pgx keeps either (it copies a map),
		// the reader the later line.
		got, want = maps.Clone(got), maps.Clone(want)
		delete(got, "database")
		delete(want, "database")
		delete(want, "dbname")
	}
	if (err == nil) != (werr == nil) || !maps.Equal(got, want) {
		t.Fatalf("pgx reads service %q of %q as %v (%v); the reader %v (%v)", name, file, want, werr, got, err)
	}
	// lib/pq: its own parser, through the environment it reads.
	if name == "" || strings.ContainsAny(name, "\x00") || strings.TrimSpace(name) != name {
		return // not a service name a DSN can carry as lib/pq reads it
	}
	path := filepath.Join(t.TempDir(), "pg_service.conf")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", path)
	got, err = Service(PQ, []byte(file), name)
	cfg, perr := pq.NewConfig("service='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'")
	if perr != nil {
		msg := perr.Error()
		fileErr := strings.Contains(msg, "missing '='") || strings.Contains(msg, "no value before '='") ||
			strings.Contains(msg, "definition of service") || strings.Contains(msg, "token too long")
		if fileErr && err == nil {
			t.Fatalf("lib/pq fails on service %q of %q (%v); the reader reads %v", name, file, perr, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("lib/pq reads service %q of %q; the reader fails: %v", name, file, err)
	}
	for k, w := range map[string]string{"password": cfg.Password, "user": cfg.User, "dbname": cfg.Database} {
		if v, ok := got[k]; ok && v != w {
			t.Fatalf("lib/pq reads %s=%q in service %q of %q; the reader %q", k, w, name, file, v)
		}
	}
	if v, ok := got["sslmode"]; ok && !strings.HasPrefix(cfg.Host, "/") && string(cfg.SSLMode) != v {
		t.Fatalf("lib/pq reads sslmode=%q in service %q of %q; the reader %q", cfg.SSLMode, name, file, v)
	}
}
