package securepg_test

import (
	"strings"
	"testing"

	"github.com/securepg/securepg"
)

// TestAttack10HostListForms: MaxHosts bounds a host list "wherever it is
// written" (pgx configures TLS per host as it parses: the list's length
// multiplies every other cost). Each form below lists 2,000 hosts; each
// must be refused, before a parser configures a host (MaxHosts).
func TestAttack10HostListForms(t *testing.T) {
	hosts := strings.TrimSuffix(strings.Repeat("localhost,", 2000), ",")
	hostports := strings.TrimSuffix(strings.Repeat("localhost:5432,", 2000), ",")
	for name, dsn := range map[string]string{
		"keyword host":         "host=" + hosts + " sslmode=verify-full sslrootcert=system",
		"URL authority":        "postgres://u@" + hostports + "/d?sslmode=verify-full&sslrootcert=system",
		"URL query host":       "postgres:///d?host=" + hosts + "&sslmode=verify-full&sslrootcert=system",
		"URL host and query":   "postgres://u@localhost/d?host=" + hosts + "&sslmode=verify-full&sslrootcert=system",
		"keyword port list":    "host=localhost port=" + strings.TrimSuffix(strings.Repeat("5432,", 2000), ",") + " sslmode=verify-full sslrootcert=system",
		"URL encoded comma":    "postgres://u@localhost/d?host=" + strings.ReplaceAll(hosts, ",", "%2C") + "&sslmode=verify-full&sslrootcert=system",
		"URL encoded key host": "postgres://u@localhost/d?%68ost=" + hosts + "&sslmode=verify-full&sslrootcert=system",
	} {
		for _, drv := range []string{"pgx", "pq"} {
			t.Run(drv+"/"+name, func(t *testing.T) {
				isolateEnv(t)
				_, err := connectorFor(drv, dsn, securepg.WithLogger(discardLogger()))
				if err == nil && name != "keyword port list" { // lib/pq reads one host with many ports as one target
					t.Error("accepted a configuration of 2,000 hosts")
				}
			})
		}
	}
}
