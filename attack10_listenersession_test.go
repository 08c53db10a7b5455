package securepg_test

import (
	"encoding/binary"
	"os"
	"testing"

	pglab "github.com/securepg/securepg/lab"
)

// attack10Msg is one server message: type, length, body.
func attack10Msg(typ byte, body string) []byte {
	b := make([]byte, 5, 5+len(body))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

// attack10Startup is a login accepted at once, up to ReadyForQuery.
func attack10Startup() []byte {
	var b []byte
	b = append(b, attack10Msg('R', "\x00\x00\x00\x00")...)
	b = append(b, attack10Msg('S', "is_superuser\x00off\x00")...)
	b = append(b, attack10Msg('S', "server_version\x0016.0\x00")...)
	b = append(b, attack10Msg('S', "client_encoding\x00UTF8\x00")...)
	b = append(b, attack10Msg('K', "\x00\x00\x00\x01\x00\x00\x00\x02")...)
	return append(b, attack10Msg('Z', "I")...)
}

// TestAttack10ListenerSessionMessagesCrashTheProcess: the family of
// TestAttack10ListenerNotificationCrashesTheProcess, for the other
// messages lib/pq reads past after a listener's startup: in
// ListenerConn's loop (a notification with its process ID and no
// strings, an ErrorResponse without its final zero byte), and in the
// query lib/pq runs itself, in its listener goroutine, under
// target_session_attrs=read-write (show transaction_read_only: a DataRow
// wider than its RowDescription, a command tag without its terminator).
// Each runs libpq.NewListener in a child process, which must live.
func TestAttack10ListenerSessionMessagesCrashTheProcess(t *testing.T) {
	if port := os.Getenv("ATTACK10_CHILD_SESSION_PORT"); port != "" {
		listenerChild(t, "host=localhost port="+port+" user=app dbname=x sslmode=require connect_timeout=5"+os.Getenv("ATTACK10_CHILD_SESSION_DSN"))
		return
	}
	l := getLab(t)
	show := attack10Msg('T', "\x00\x01transaction_read_only\x00"+"\x00\x00\x00\x00\x00\x00"+"\x00\x00\x00\x19"+"\xff\xff"+"\xff\xff\xff\xff"+"\x00\x00")
	for _, c := range []struct {
		name, dsn string
		session   []byte
	}{
		{"notification with a process ID and no strings", "", attack10Msg('A', "\x00\x00\x00\x07")},
		{"notification whose payload lacks its terminator", "", attack10Msg('A', "\x00\x00\x00\x07chan\x00payload")},
		{"error without its final zero byte", "", attack10Msg('E', "SERROR\x00C08P01\x00Mgone\x00")},
		{"DataRow wider than its RowDescription (target_session_attrs)", " target_session_attrs=read-write",
			append(append(append(attack10Msg('T', "\x00\x00"), attack10Msg('D', "\x00\x01\x00\x00\x00\x03off")...), attack10Msg('C', "SHOW\x00")...), attack10Msg('Z', "I")...)},
		{"command tag without its terminator (target_session_attrs)", " target_session_attrs=read-write",
			append(append(append(show, attack10Msg('D', "\x00\x01\x00\x00\x00\x03off")...), attack10Msg('C', "SHOW")...), attack10Msg('Z', "I")...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			isolateEnv(t)
			imp, err := pglab.NewReplyImpostor(l.Certs.SelfSigned.TLS, append(attack10Startup(), c.session...))
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close()
			childSurvives(t, "TestAttack10ListenerSessionMessagesCrashTheProcess", "ATTACK10_CHILD_SESSION_PORT="+imp.PortString(), "ATTACK10_CHILD_SESSION_DSN="+c.dsn, "SECUREPG_MIN_SSLMODE=require")
		})
	}
}
