// Package labtest is the part of package lab that takes a testing.TB:
// one cluster shared by every test of a test binary (Shared,
// SharedVersion, stopped by RunMain), an environment without the
// machine's PG* and SECUREPG_* settings (IsolateEnv), and the rule for a
// lab that cannot run (Unavailable: a failure under CI=true, else a skip),
// and what tests share about where they run (Slow, ClearPG, Allocated,
// ServerTempDir and Leftovers).
//
//	func TestMain(m *testing.M) { os.Exit(labtest.RunMain(m)) }
//
//	func TestSomething(t *testing.T) {
//		labtest.IsolateEnv(t)
//		c := labtest.Shared(t)
//		db, err := sql.Open("securepg", c.DSN("sslmode=verify-full", "sslrootcert="+c.Certs.CAFile))
//		...
//	}
package labtest
