package securepg_test

import (
	"bytes"
	"database/sql"
	"testing"

	pglab "github.com/securepg/securepg/lab"
)

// TestAttack10TargetSessionAttrsNoRows: pgx's target_session_attrs
// checks (ValidateConnectTargetSessionAttrs*) index the first row of
// their answer (result[0].Rows[0][0]) without looking: a peer the policy
// lets through (require, a login without a password) that answers with
// no row, or with no result at all, makes pgx panic inside the connect,
// in the caller's goroutine (or database/sql's connection opener, where
// the process dies).
func TestAttack10TargetSessionAttrsNoRows(t *testing.T) {
	l := getLab(t)
	desc := attack10Msg('T', "\x00\x01transaction_read_only\x00"+"\x00\x00\x00\x00\x00\x00"+"\x00\x00\x00\x19"+"\xff\xff"+"\xff\xff\xff\xff"+"\x00\x00")
	for name, answer := range map[string][]byte{
		"no row":    bytes.Join([][]byte{desc, attack10Msg('C', "SHOW\x00"), attack10Msg('Z', "I")}, nil),
		"no result": bytes.Join([][]byte{attack10Msg('I', ""), attack10Msg('Z', "I")}, nil),
		"no column": bytes.Join([][]byte{attack10Msg('T', "\x00\x00"), attack10Msg('D', "\x00\x00"), attack10Msg('C', "SHOW\x00"), attack10Msg('Z', "I")}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("SECUREPG_MIN_SSLMODE", "require")
			t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
			t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
			port := attack10SessionPeer(t, l.Certs.SelfSigned.TLS, answer)
			db, err := sql.Open(driverName("pgx"), "host=localhost port="+port+" user="+pglab.ClientCN+" dbname=x sslmode=require connect_timeout=5 target_session_attrs=read-write")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := pingUnpanicked(t, db, "a peer's answer to target_session_attrs' query"); err == nil {
				t.Fatal("connected")
			}
		})
	}
}
