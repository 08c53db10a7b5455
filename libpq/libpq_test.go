package libpq_test

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/libpq"
)

// TestWrappedBackendIsAnError: an option of the program's own that embeds
// libpq.Backend() (or a nil Option) is an error at NewConnector, not a
// panic, and never a connector on the other backend.
func TestWrappedBackendIsAnError(t *testing.T) {
	type named struct{ securepg.Option }
	for _, opt := range []securepg.Option{named{libpq.Backend()}, named{}} {
		c, err := securepg.NewConnector("host=db.example.com sslmode=verify-full sslrootcert=system", opt)
		if err == nil || c != nil || !strings.Contains(err.Error(), "libpq.Backend() itself") {
			t.Fatalf("%T: connector %v, err %v", opt, c, err)
		}
	}
}

// TestSeamNotReachableByReflection: the connector's exported methods are
// driver.Connector's, its String and GoString, and Seam, which gives nothing without the key only
// securepg's own packages hold.
func TestSeamNotReachableByReflection(t *testing.T) {
	c, err := securepg.NewConnector("host=db.example.com sslmode=verify-full sslrootcert=system", libpq.Backend())
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(c)
	var names []string
	for i := range v.NumMethod() {
		names = append(names, v.Type().Method(i).Name)
	}
	if strings.Join(names, ",") != "Connect,Driver,GoString,Seam,String" {
		t.Fatalf("methods reachable by reflection: %v", names)
	}
	seam := v.MethodByName("Seam")
	for _, k := range []reflect.Value{reflect.Zero(seam.Type().In(0)), reflect.New(seam.Type().In(0).Elem())} {
		if out := seam.Call([]reflect.Value{k}); !out[0].IsNil() {
			t.Fatalf("Seam(%v) gave %v", k, out[0])
		}
	}
}

// TestPgxRegistryName: a name from pgx's stdlib.RegisterConnConfig is
// refused on "securepg-pq" as on "securepg", with what to use instead.
func TestPgxRegistryName(t *testing.T) {
	_, err := sql.Open(libpq.DriverName, "registeredConnConfig0")
	if err == nil || !strings.Contains(err.Error(), "securepg.OpenDB") {
		t.Fatalf("err = %v", err)
	}
}

// TestPgxWaysRefuseTheBackend: the ways that take a pgx configuration
// refuse libpq.Backend() (never a lib/pq connector under pgx's types),
// naming the driver name; and libpq.DriverName is the name securepg's
// messages give.
func TestPgxWaysRefuseTheBackend(t *testing.T) {
	if libpq.DriverName != core.NamePQ {
		t.Fatalf("libpq.DriverName %q, core.NamePQ %q", libpq.DriverName, core.NamePQ)
	}
	cc, err := pgx.ParseConfig("host=db.example.com sslmode=verify-full sslrootcert=system")
	if err != nil {
		t.Fatal(err)
	}
	if err := securepg.ConfigurePgx(cc, libpq.Backend()); err == nil || !strings.Contains(err.Error(), "securepg-pq") {
		t.Fatalf("ConfigurePgx: %v", err)
	}
	if db, err := securepg.OpenDB(cc, libpq.Backend()); err == nil || db != nil || !strings.Contains(err.Error(), "securepg-pq") {
		t.Fatalf("OpenDB: %v", err)
	}
}
