// Command securepg-vet reports PostgreSQL connections that bypass the
// securepg policy (see package github.com/securepg/securepg/lint). It runs
// under go vet:
//
//	go install github.com/securepg/securepg/cmd/securepg-vet@latest
//	go vet -vettool=$(which securepg-vet) ./...
//
// or by itself, on package patterns: securepg-vet ./...
//
// go vet exits non-zero when a bypass is found and prints each as
// file:line:col: message.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/securepg/securepg/lint"
)

func main() { singlechecker.Main(lint.Analyzer) }
