package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

var update = flag.Bool("update", false, "rewrite the sample output in docs/cli.md")

// docsCLI is the page whose sample output TestDocsGolden produces.
var docsCLI = filepath.Join("..", "..", "docs", "cli.md")

// TestDocsGolden: the sample output in docs/cli.md is what the command
// prints. Each case's text sits in the page under a marker line
//
//	<!-- golden: NAME -->
//
// followed by a fenced block holding "$ COMMAND" and the output. The
// output must not depend on the machine (no temporary paths, no ports),
// so the cases use DSNs that name no file. When the command's output
// changes on purpose, regenerate the page with
//
//	go test ./cmd/securepg -run TestDocsGolden -update
//
// and review the diff of docs/cli.md.
func TestDocsGolden(t *testing.T) {
	cases := []struct {
		name string
		env  [][2]string // in the order the command line shows them
		args []string
		code int
	}{
		{"check-refused", [][2]string{{"DATABASE_URL", "postgres://app:s3cret@db.internal/app?sslmode=prefer"}}, []string{"check"}, exitRefused},
		{"check-allowed", [][2]string{{"DATABASE_URL", "postgres://app@db.internal/app?sslmode=verify-full&sslrootcert=system&application_name=orders-api"}}, []string{"check"}, exitOK},
		{"check-audit", [][2]string{{"SECUREPG_MODE", "audit"}, {"DATABASE_URL", "host=db.internal,replica.internal user=app sslmode=require"}}, []string{"check"}, exitOK},
	}
	doc, err := os.ReadFile(docsCLI)
	if err != nil {
		t.Fatal(err)
	}
	page := string(doc)
	for _, tc := range cases {
		labtest.IsolateEnv(t)
		var line []string
		for _, kv := range tc.env {
			t.Setenv(kv[0], kv[1])
			line = append(line, kv[0]+"='"+kv[1]+"'")
		}
		r := cli(t, "", tc.args...)
		if r.code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, r.code, tc.code, r.out, r.errOut)
		}
		want := "$ " + strings.Join(append(line, "securepg "+strings.Join(tc.args, " ")), " ") + "\n" + r.out + r.errOut
		block := "<!-- golden: " + tc.name + " -->\n\n```\n" + want + "```\n"
		re := regexp.MustCompile("(?s)<!-- golden: " + regexp.QuoteMeta(tc.name) + " -->\n(?:\n```\n.*?```\n)?")
		loc := re.FindStringIndex(page)
		if loc == nil {
			t.Errorf("docs/cli.md has no %q marker", "<!-- golden: "+tc.name+" -->")
			continue
		}
		if page[loc[0]:loc[1]] == block {
			continue
		}
		if *update {
			page = page[:loc[0]] + block + page[loc[1]:]
			continue
		}
		t.Errorf("docs/cli.md: the sample %s is not what the command prints; run go test ./cmd/securepg -run TestDocsGolden -update\ngot:\n%s\nin the page:\n%s", tc.name, block, page[loc[0]:loc[1]])
	}
	if *update && page != string(doc) {
		if err := os.WriteFile(docsCLI, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
