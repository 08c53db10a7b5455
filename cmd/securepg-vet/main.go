// Command securepg-vet is go vet with one more analyzer: it runs go vet's
// standard analyzers and the securepg analyzer, which reports PostgreSQL
// connections that bypass the securepg policy (see package
// github.com/securepg/securepg/lint). It replaces go vet's own tool
// without losing its checks:
//
//	go install github.com/securepg/securepg/cmd/securepg-vet@latest
//	set -e
//	tool=$(command -v securepg-vet) # fails the script when it is not installed
//	go vet -vettool="$tool" ./...
//
// (go vet -vettool=$(which securepg-vet) passes when the tool is not on
// PATH: which prints nothing and go vet runs its own tool.) For CI,
// securepg lint ./... is simpler: it exits 3 on a bypass and 2 when the
// packages do not load.
//
// Run by itself, on package patterns (securepg-vet ./...), it exits 3 when
// something is reported and 1 when the packages do not load.
package main

import (
	"golang.org/x/tools/go/analysis/multichecker"

	"github.com/securepg/securepg/lint"
)

func main() { multichecker.Main(append(vetSuite(), lint.Analyzer)...) }
