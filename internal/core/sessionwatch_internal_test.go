package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func sessMsg(typ byte, body string) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

var msgReady = sessMsg('Z', "I")

// A field of a RowDescription (text column of type oid, format f).
func rowField(name string, oid uint32, f uint16) string {
	b := append([]byte(name+"\x00"), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0)
	binary.BigEndian.PutUint32(b[len(name)+7:], oid)
	binary.BigEndian.PutUint16(b[len(b)-2:], f)
	return string(b)
}

// listenerWatch is a lib/pq listener's watch, past the startup.
func listenerWatch(t *testing.T) *authWatch {
	t.Helper()
	w := NewAuthWatch(Policy{}, "", false)
	w.driverError, w.in.keep, w.after = func(map[byte]string) error { return errors.New("x") }, MaxAuthMessage, listenerRules()
	if err := w.read(bytes.Join([][]byte{msgOK, msgReady}, nil)); err != nil {
		t.Fatal(err)
	}
	return w
}

// A listener's session: every message lib/pq would read past fails the
// read; what a real server sends passes, byte by byte as well as whole.
func TestListenerSessionMessages(t *testing.T) {
	text := sessMsg('T', "\x00\x01"+rowField("transaction_read_only", 25, 0))
	boolCol := sessMsg('T', "\x00\x01"+rowField("pg_is_in_recovery", 16, 0))
	for _, tc := range []struct {
		name   string
		stream []byte
		bad    bool
	}{
		{"notification", sessMsg('A', "\x00\x00\x00\x07chan\x00payload\x00"), false},
		{"notification, no strings", sessMsg('A', "\x00\x00\x00\x07"), true},
		{"notification, short PID", sessMsg('A', "\x00\x00"), true},
		{"notification, payload unterminated", sessMsg('A', "\x00\x00\x00\x07chan\x00x"), true},
		{"error", sessMsg('E', "SERROR\x00C08P01\x00Mgone\x00\x00"), false},
		{"error, no final zero", sessMsg('E', "SERROR\x00C08P01\x00Mgone\x00"), true},
		{"notice, field unterminated", sessMsg('N', "SNOTICE\x00Mhi"), true},
		{"parameter", sessMsg('S', "TimeZone\x00UTC\x00"), false},
		{"parameter, no value", sessMsg('S', "TimeZone\x00"), true},
		{"ready, empty", sessMsg('Z', ""), true},
		{"LISTEN", bytes.Join([][]byte{sessMsg('C', "LISTEN\x00"), msgReady}, nil), false},
		{"command tag unterminated", sessMsg('C', "LISTEN"), true},
		{"empty query (ping)", bytes.Join([][]byte{sessMsg('I', ""), msgReady}, nil), false},
		{"SHOW", bytes.Join([][]byte{text, sessMsg('D', "\x00\x01\x00\x00\x00\x03off"), sessMsg('C', "SHOW\x00"), msgReady}, nil), false},
		{"boolean", bytes.Join([][]byte{boolCol, sessMsg('D', "\x00\x01\x00\x00\x00\x01f"), sessMsg('C', "SELECT 1\x00"), msgReady}, nil), false},
		{"NULL", bytes.Join([][]byte{boolCol, sessMsg('D', "\x00\x01\xff\xff\xff\xff")}, nil), false},
		{"boolean, empty", bytes.Join([][]byte{boolCol, sessMsg('D', "\x00\x01\x00\x00\x00\x00")}, nil), true},
		{"row without a description", sessMsg('D', "\x00\x01\x00\x00\x00\x03off"), true},
		{"row wider than its description", bytes.Join([][]byte{sessMsg('T', "\x00\x00"), sessMsg('D', "\x00\x01\x00\x00\x00\x03off")}, nil), true},
		{"row after ReadyForQuery", bytes.Join([][]byte{text, msgReady, sessMsg('D', "\x00\x01\x00\x00\x00\x03off")}, nil), true},
		{"value past the row", bytes.Join([][]byte{text, sessMsg('D', "\x00\x01\x00\x00\x00\x09off")}, nil), true},
		{"negative length", bytes.Join([][]byte{text, sessMsg('D', "\x00\x01\xff\xff\xff\xfe")}, nil), true},
		{"description, name unterminated", sessMsg('T', "\x00\x01c"), true},
		{"description, field cut short", sessMsg('T', "\x00\x01c\x00\x00\x00"), true},
		{"description, format 2", sessMsg('T', "\x00\x01"+rowField("c", 25, 2)), true},
		{"binary int8 too short", bytes.Join([][]byte{sessMsg('T', "\x00\x01"+rowField("c", 20, 1)), sessMsg('D', "\x00\x01\x00\x00\x00\x02ab")}, nil), true},
	} {
		for _, chunk := range []int{0, 1} {
			w := listenerWatch(t)
			var err error
			for s := tc.stream; len(s) > 0 && err == nil; {
				k := len(s)
				if chunk > 0 {
					k = chunk
				}
				err, s = w.read(s[:k]), s[k:]
			}
			if bad := errors.Is(err, errMalformedSessionForPQ); bad != tc.bad || err != nil && !bad {
				t.Errorf("%s (chunk %d): %v", tc.name, chunk, err)
			}
		}
	}
}

// A listener's session has no byte budget, but each message the
// per-message bound; a failed read stays failed.
func TestListenerSessionBounds(t *testing.T) {
	w := listenerWatch(t)
	note := sessMsg('A', "\x00\x00\x00\x07chan\x00"+strings.Repeat("p", 7000)+"\x00")
	for range 2*MaxStartupBytes/len(note) + 1 {
		if err := w.read(note); err != nil {
			t.Fatalf("a session's notifications: %v", err)
		}
	}
	big := sessMsg('A', "\x00\x00\x00\x07chan\x00"+strings.Repeat("p", MaxAuthMessage)+"\x00")
	var oe *oversizeError
	if err := w.read(big[:5]); !errors.As(err, &oe) || !strings.Contains(err.Error(), "in a listener's session") {
		t.Fatalf("a %d-byte notification: %v", len(big), err)
	}
	if err := w.read(note); err == nil {
		t.Fatal("a read after a refused one passed")
	}
}

// pgx's connection is bounded from ReadyForQuery until it is released
// (FinishPgConn judged it); then nothing is counted.
func TestJudgeBudget(t *testing.T) {
	row := sessMsg('D', "\x00\x01\x00\x00\x04\x00"+strings.Repeat("x", 1024))
	start := func() *authWatch {
		w := NewAuthWatch(Policy{}, "", false)
		w.after = judgeRules()
		if err := w.read(bytes.Join([][]byte{msgOK, msgReady}, nil)); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := start()
	var err error
	sent := 0
	for err == nil && sent <= 2*MaxJudgeBytes {
		err = w.read(row)
		sent += len(row)
	}
	var fe *floodError
	if !errors.As(err, &fe) || sent <= MaxJudgeBytes || sent > MaxJudgeBytes+len(row) || !strings.Contains(err.Error(), "before securepg judged") {
		t.Fatalf("after %d bytes: %v", sent, err)
	}
	w = start()
	if err := w.read(row); err != nil {
		t.Fatal(err)
	}
	w.release()
	for range 2*MaxJudgeBytes/len(row) + 1 {
		if err := w.read(row); err != nil {
			t.Fatalf("after the release: %v", err)
		}
	}
}
