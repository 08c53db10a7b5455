package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/securepg/securepg"
)

// TestAttack10QueryTextDollarQuoteAfterQuotedIdent: WithQueryText
// records db.query.text "every literal replaced". Sanitize reads a '$'
// right after a quoted identifier as continuing an identifier (prevIdent
// is set by the closing '"'), so a dollar-quoted literal there is kept
// verbatim; PostgreSQL ends the quoted identifier at its '"' and reads
// $$...$$ as a string constant (here the generic cast "text" '...'). The
// server returns the literal, and the span carries it.
func TestAttack10QueryTextDollarQuoteAfterQuotedIdent(t *testing.T) {
	l := getLab(t)
	const secret = "Zq7-dollar-literal"
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			s := newSDK(t)
			c, err := connectorFor(drv, verifiedDSN(l.Cluster), append(s.opts, securepg.WithQueryText(true))...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			var got string
			if err := db.QueryRowContext(context.Background(), `SELECT "text"$$`+secret+`$$`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != secret {
				t.Fatalf("the server read %q, not the literal", got)
			}
			for _, sp := range s.ended("") {
				for _, a := range sp.Attributes() {
					if strings.Contains(a.Value.String(), secret) {
						t.Errorf("span %q attribute %s = %q holds the literal", sp.Name(), a.Key, a.Value.String())
					}
				}
			}
		})
	}
}
