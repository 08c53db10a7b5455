package core

import (
	"cmp"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// What the gate reads costs linear time and bounded memory: the DSN, each
// PG* variable, the service file and the passfile are capped at
// MaxDSNSize, key files at MaxKeyFileSize, host lists at MaxHosts. Errors
// name the variable or the file, never its content.

// MaxHosts is the longest host list securepg accepts (host or hostaddr,
// anywhere). pgx configures TLS per host as it parses, so the list's
// length multiplies every other cost (5,000 hosts with
// sslrootcert=system: 130 MB in pgx's parser alone).
const MaxHosts = 100

// checkEnv refuses a PG* environment variable longer than MaxDSNSize: the
// drivers read them as they read the DSN.
func checkEnv() error {
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			continue
		}
		if k, v, _ := strings.Cut(kv, "="); len(v) > MaxDSNSize {
			return &DSNError{Driver: "securepg", Msg: "the environment variable " + SafeText(k) + " is " +
				strconv.Itoa(len(v)) + " bytes; securepg accepts at most " + strconv.Itoa(MaxDSNSize)}
		}
	}
	return nil
}

// checkHosts refuses a host list longer than MaxHosts, wherever it is
// written: set is the DSN's settings, svc the service's (or nil).
func checkHosts(set, svc map[string]string) error {
	for _, c := range []struct{ what, v string }{
		{"host (DSN)", set["host"]}, {"hostaddr (DSN)", set["hostaddr"]},
		{"PGHOST", os.Getenv("PGHOST")}, {"PGHOSTADDR", os.Getenv("PGHOSTADDR")},
		{"host (service file)", svc["host"]}, {"hostaddr (service file)", svc["hostaddr"]},
	} {
		if n := strings.Count(c.v, ",") + 1; n > MaxHosts {
			return &DSNError{Driver: "securepg", Msg: c.what + " lists " + strconv.Itoa(n) + " hosts; securepg accepts at most " + strconv.Itoa(MaxHosts)}
		}
	}
	return nil
}

// fileKeys are the settings that name a file a driver reads.
var fileKeys = []struct{ key, env string }{
	{"sslrootcert", "PGSSLROOTCERT"}, {"sslcert", "PGSSLCERT"}, {"sslkey", "PGSSLKEY"},
	{"passfile", "PGPASSFILE"}, {"servicefile", "PGSERVICEFILE"},
}

// checkFile refuses the file at path, which what names for setting key,
// when it exists and is not a regular file of a size securepg accepts
// (passfiles and service files are capped as DSNs are).
func checkFile(what, key, path string) error {
	if path == "" || path == "system" {
		return nil
	}
	limit := int64(MaxKeyFileSize)
	if key == "passfile" || key == "servicefile" {
		limit = MaxPasswordFileSize
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return nil // the driver says what is missing
	case !st.Mode().IsRegular():
		return fmt.Errorf("securepg: %s names a file that is not a regular file; refusing before the driver reads it (a FIFO would block it, a device never end)", what)
	case st.Size() > limit:
		return fmt.Errorf("securepg: %s names a file of %d bytes; securepg accepts at most %d, and refuses before the driver reads it", what, st.Size(), limit)
	}
	return nil
}

// UserHome is the home directory driver reads its default files from
// (~/.pgpass, ~/.pg_service.conf, ~/.postgresql): $HOME for both; with
// HOME unset, lib/pq falls back to the user's entry in the password
// database and pgx reads none. "" when there is none.
func UserHome(driver string) string {
	home, _ := os.UserHomeDir()
	if home == "" && driver == DriverPQ {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return home
}

// checkFiles refuses, before a driver's parser reads them, the files the
// configuration names (DSN, environment, service file, home directory)
// that checkFile refuses (a FIFO would block the parser outside any
// context; the drivers read any size); and a host list over MaxHosts.
func checkFiles(driver string, set map[string]string) error {
	home := UserHome(driver)
	var err error
	check := func(what, key, path string) { // the first refusal stops the checks
		if err == nil {
			err = checkFile(what, key, path)
		}
	}
	for _, k := range fileKeys {
		if driver == DriverPQ && k.key == "servicefile" {
			check("PGSERVICEFILE", k.key, os.Getenv(k.env))
			continue
		}
		check(k.key+" (DSN)", k.key, set[k.key])
		check(k.env, k.key, os.Getenv(k.env))
	}
	if home != "" {
		check("~/.pgpass", "passfile", filepath.Join(home, ".pgpass"))
		check("~/.pg_service.conf", "servicefile", filepath.Join(home, ".pg_service.conf"))
		for _, f := range []string{".postgresql/root.crt", ".postgresql/postgresql.crt", ".postgresql/postgresql.key"} {
			check("~/"+f, "", filepath.Join(home, f))
		}
	}
	if err != nil {
		return err
	}
	// The files a service names, once the service file is known bounded.
	name := cmp.Or(set["service"], os.Getenv("PGSERVICE"))
	if name == "" {
		return checkHosts(set, nil)
	}
	path := cmp.Or(os.Getenv("PGSERVICEFILE"), filepath.Join(home, ".pg_service.conf"))
	if driver == DriverPgx {
		path = cmp.Or(set["servicefile"], path)
	}
	svc := serviceSettings(driver, path, name)
	for _, k := range fileKeys {
		check(k.key+" of service "+SafeText(name), k.key, svc[k.key])
	}
	if err != nil {
		return err
	}
	return checkHosts(set, svc)
}
