package core

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What the gate reads costs linear time and bounded memory: the DSN is
// capped at MaxDSNSize (checkDSN), and so is each PG* variable, the
// service file and the passfile; certificate and key files at
// MaxKeyFileSize; host lists at MaxHosts. Errors name the variable or the
// file, never its content.

// MaxHosts is the longest host list securepg accepts (host or hostaddr,
// in the DSN, PGHOST, PGHOSTADDR or a service file): room for any
// cluster. pgx configures TLS for each host of the list as it parses —
// it copies the system roots, or reads and parses the root file, once
// per host — so the list's length multiplies every other cost (5,000
// hosts with sslrootcert=system: 130 MB in pgx's parser alone).
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

// fileKeys are the settings that name a file a driver's parser (or lib/pq
// at connect) reads.
var fileKeys = []struct{ key, env string }{
	{"sslrootcert", "PGSSLROOTCERT"}, {"sslcert", "PGSSLCERT"}, {"sslkey", "PGSSLKEY"},
	{"passfile", "PGPASSFILE"}, {"servicefile", "PGSERVICEFILE"},
}

// fileLimit is the largest file securepg lets a driver read for key:
// passfiles and service files are capped as DSNs are.
func fileLimit(key string) int64 {
	if key == "passfile" || key == "servicefile" {
		return MaxPasswordFileSize
	}
	return MaxKeyFileSize
}

// fileCandidate is a file the configuration names, and who names it.
type fileCandidate struct {
	what, path string
	max        int64
}

// check refuses the file when it exists and is not a regular file of at
// most c.max bytes.
func (c fileCandidate) check() error {
	st, err := os.Stat(c.path)
	switch {
	case err != nil:
		return nil // the driver says what is missing
	case !st.Mode().IsRegular():
		return fmt.Errorf("securepg: %s names a file that is not a regular file; refusing before the driver reads it (a FIFO would block it, a device never end)", c.what)
	case st.Size() > c.max:
		return fmt.Errorf("securepg: %s names a file of %d bytes; securepg accepts at most %d, and refuses before the driver reads it", c.what, st.Size(), c.max)
	}
	return nil
}

// checkFiles refuses, before a driver's parser reads them, the files that
// the configuration names (in the DSN, the environment, the service file,
// or by default in the home directory) when one exists and is not a
// regular file (a FIFO would block the parser, outside any context, and
// /dev/zero would never end) or is larger than securepg accepts (the
// drivers read any size); and a host list longer than MaxHosts.
func checkFiles(driver string, set map[string]string) error {
	home, _ := os.UserHomeDir()
	var cands []fileCandidate
	add := func(what, key, path string) {
		if path != "" && path != "system" {
			cands = append(cands, fileCandidate{what, path, fileLimit(key)})
		}
	}
	for _, k := range fileKeys {
		if driver == DriverPQ && k.key == "servicefile" {
			add("PGSERVICEFILE", k.key, os.Getenv(k.env))
			continue
		}
		add(k.key+" (DSN)", k.key, set[k.key])
		add(k.env, k.key, os.Getenv(k.env))
	}
	if home != "" {
		add("~/.pgpass", "passfile", filepath.Join(home, ".pgpass"))
		add("~/.pg_service.conf", "servicefile", filepath.Join(home, ".pg_service.conf"))
		for _, f := range []string{".postgresql/root.crt", ".postgresql/postgresql.crt", ".postgresql/postgresql.key"} {
			add("~/"+f, "", filepath.Join(home, f))
		}
	}
	for _, c := range cands {
		if err := c.check(); err != nil {
			return err
		}
	}
	// The files a service names, too, once the service file is known to be
	// a regular one of a bounded size.
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
		if p := svc[k.key]; p != "" && p != "system" {
			c := fileCandidate{k.key + " of service " + SafeText(name), p, fileLimit(k.key)}
			if err := c.check(); err != nil {
				return err
			}
		}
	}
	return checkHosts(set, svc)
}
