package labtest

import (
	"os"
	"strings"
	"testing"
)

// IsolateEnv clears every PG* and SECUREPG_* variable (but the lab's own
// SECUREPG_LAB_*) for the test (they come back when it ends), and gives
// it an empty HOME so that no ~/.pgpass, ~/.pg_service.conf or
// ~/.postgresql/ file of the machine takes part.
func IsolateEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SECUREPG_LAB_") {
			continue // where the lab finds its servers, not a setting of securepg's
		}
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "SECUREPG_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
}
