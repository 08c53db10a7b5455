package core

import (
	"os/user"
	"testing"
)

// TestUserHomeAsEachDriver: with HOME unset, lib/pq reads its default
// files (~/.pgpass, ~/.pg_service.conf, ~/.postgresql) from the user's
// home in the password database and pgx reads none; securepg judges and
// bounds the same files each driver reads.
func TestUserHomeAsEachDriver(t *testing.T) {
	t.Setenv("HOME", "/home/from-env")
	for _, drv := range []string{DriverPgx, DriverPQ} {
		if got := UserHome(drv); got != "/home/from-env" {
			t.Errorf("%s with HOME set: %q", drv, got)
		}
	}
	t.Setenv("HOME", "")
	if got := UserHome(DriverPgx); got != "" {
		t.Errorf("pgx without HOME: %q, want none", got)
	}
	want := "" // no entry: lib/pq reads no home files either
	if u, err := user.Current(); err == nil {
		want = u.HomeDir
	}
	if got := UserHome(DriverPQ); got != want {
		t.Errorf("lib/pq without HOME: %q, want the password database's %q", got, want)
	}
}
