// Command securepg checks DSNs against the organisation's policy, probes
// servers, prints the policy, and demonstrates all of it on a throwaway
// local PostgreSQL:
//
//	securepg demo                 start a PostgreSQL with TLS and show securepg at work
//	securepg check [--json]       judge the DSN in DATABASE_URL (or on standard input), offline
//	securepg probe [--json] [--downgrade-test]
//	                              connect through the policy and report the connection's security
//	securepg policy [--json]      print the effective policy and where each value comes from
//	securepg lint [-C dir] [-test=false] [packages]
//	                              report calls that open PostgreSQL connections without securepg
//	securepg version
//
// DSNs are never taken from the command line: shells keep history.
//
// Exit codes: 0 success (allowed), 3 refused by the policy, 2 usage or
// configuration error (including an invalid SECUREPG_* value), 1 any other
// error.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
