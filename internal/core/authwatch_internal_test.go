package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func authMsg(code uint32, extra ...byte) []byte {
	b := []byte{'R', 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(8+len(extra)))
	binary.BigEndian.PutUint32(b[5:], code)
	return append(b, extra...)
}

var (
	msgOK        = authMsg(0)
	msgCleartext = authMsg(3)
	msgMD5       = authMsg(5, 1, 2, 3, 4)
	msgSASLPlus  = authMsg(10, []byte("SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00")...)
	msgSASL      = authMsg(10, []byte("SCRAM-SHA-256\x00\x00")...)
	msgParam     = []byte{'S', 0, 0, 0, 9, 'a', 0, 'b', 'c', 0}
)

// watchStream feeds stream to a protecting watch in chunks of size n (0:
// whole) and returns the method it saw and its refusal.
func watchStream(stream []byte, n int) (string, error) {
	w := NewAuthWatch(Policy{}, "h:5432", false)
	w.protect, w.canBind, w.credential = true, true, true // pgx with a credential
	if n <= 0 {
		n = len(stream) + 1
	}
	for len(stream) > 0 {
		k := min(n, len(stream))
		if err := w.read(stream[:k]); err != nil {
			m, _ := w.result()
			return m, err
		}
		stream = stream[k:]
	}
	m, _ := w.result()
	return m, nil
}

func TestAuthWatch(t *testing.T) {
	cat := func(ms ...[]byte) []byte { return bytes.Join(ms, nil) }
	for _, tc := range []struct {
		name    string
		stream  []byte
		method  string
		refused bool
	}{
		{"cleartext", msgCleartext, AuthPassword, true},
		{"md5", msgMD5, AuthMD5, true},
		{"ok at once", cat(msgOK, msgParam), AuthTrust, true},
		{"SCRAM without PLUS", msgSASL, AuthSCRAM, true},
		{"SCRAM with PLUS, the client's choice pending", msgSASLPlus, AuthSCRAM, false},
		{"SCRAM with PLUS, then ok without a bound choice", cat(msgSASLPlus, authMsg(11, 'x'), authMsg(12, 'y'), msgOK), AuthSCRAM, true},
		{"an error ends the watch", cat([]byte{'E', 0, 0, 0, 12, 'C', '2', '8', 'P', '0', '1', 0, 0}, msgCleartext), "", false},
		{"unknown method", authMsg(42), AuthOther, true},
		{"a parameter first, then cleartext", cat(msgParam, msgCleartext), AuthPassword, true},
	} {
		for _, n := range []int{0, 1, 2, 5, 7} {
			m, err := watchStream(tc.stream, n)
			var v *Violation
			if (err != nil) != tc.refused || m != tc.method || err != nil && (!errors.As(err, &v) || v.Reason != ReasonPasswordUnverified) {
				t.Errorf("%s, chunks of %d: method %q, err %v; want %q, refused %v", tc.name, n, m, err, tc.method, tc.refused)
			}
		}
	}

	// The client's choice of PLUS, seen on the bytes it writes, makes the
	// login pass.
	w := plusLogin(t)
	if m, bound := w.result(); m != AuthSCRAMPlus || !bound {
		t.Fatalf("method %q, bound %v", m, bound)
	}
	// The watch goes on until the session starts (pgx would answer a
	// request after AuthenticationOk), and then lets bytes pass unread.
	if err := w.read(msgCleartext); err == nil {
		t.Fatal("a cleartext request after AuthenticationOk passed")
	}
	w = plusLogin(t)
	if err := w.read([]byte{'Z', 0, 0, 0, 5, 'I'}); err != nil {
		t.Fatal(err)
	}
	if err := w.read(msgCleartext); err != nil {
		t.Fatal(err)
	}
}

// plusLogin is a SCRAM-SHA-256-PLUS login up to AuthenticationOk, the
// client's bytes fed one at a time.
func plusLogin(t *testing.T) *authWatch {
	t.Helper()
	w := NewAuthWatch(Policy{}, "", false)
	w.protect, w.canBind, w.credential = true, true, true // pgx with a credential
	if err := w.read(msgSASLPlus); err != nil {
		t.Fatal(err)
	}
	initial := []byte{'p', 0, 0, 0, 0}
	initial = append(initial, "SCRAM-SHA-256-PLUS\x00\x00\x00\x00\x04abcd"...)
	binary.BigEndian.PutUint32(initial[1:], uint32(len(initial)-1))
	for _, b := range initial {
		w.write([]byte{b})
	}
	if err := w.read(bytes.Join([][]byte{authMsg(11, 'x'), authMsg(12, 'y'), msgOK}, nil)); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestAuthWatchBoundedMemory: a peer that announces a message longer
// than MaxAuthMessage before the session starts is refused at its header,
// before a driver allocates for it (whatever the length's sign as an
// int32); one just under the limit costs the watch at most maxAuthBody.
func TestAuthWatchBoundedMemory(t *testing.T) {
	for _, length := range []uint32{0x7fffffff, 0xfffffff0, 0x3ffffff0, MaxAuthMessage + 5, 3} {
		for _, typ := range []byte{'R', 'E', 'N', 'A'} {
			w := NewAuthWatch(Policy{}, "", false)
			head := []byte{typ, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(head[1:], length)
			var oe *oversizeError
			if err := w.read(head); !errors.As(err, &oe) {
				t.Fatalf("%q of length %d: %v", typ, length, err)
			}
		}
	}
	w := NewAuthWatch(Policy{}, "", false)
	if err := w.read([]byte{'R', 0, 1, 0, 4, 0, 0, 0, 10}); err != nil {
		t.Fatal(err)
	}
	if err := w.read(make([]byte, MaxAuthMessage-4)); err != nil {
		t.Fatal(err)
	}
	if n := cap(w.in.body); n > 2*maxAuthBody {
		t.Fatalf("the watch kept %d bytes", n)
	}
}

// FuzzAuthWatch: whatever a server sends, the watch does not panic, its
// verdict does not depend on how the bytes are split, and the first
// method it refuses is the one pgx's own protocol parser reads.
func FuzzAuthWatch(f *testing.F) {
	for _, s := range [][]byte{msgCleartext, msgMD5, msgOK, msgSASL, msgSASLPlus, append(append([]byte(nil), msgParam...), msgOK...),
		authMsg(7), authMsg(9), authMsg(11, 1), append(append([]byte(nil), msgSASLPlus...), authMsg(11, []byte("r=a,s=b,i=99999999")...)...),
		{'E', 0, 0, 0, 4}, {'R', 0, 0, 0, 3}} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, stream []byte, n uint8) {
		whole, werr := watchStream(stream, 0)
		split, serr := watchStream(stream, int(n))
		if whole != split || (werr == nil) != (serr == nil) {
			t.Fatalf("whole: %q %v; in chunks of %d: %q %v", whole, werr, n, split, serr)
		}
		if oe := (*oversizeError)(nil); errors.As(werr, &oe) {
			return // refused at a header, before anything a parser would read
		}
		if ie := (*iterationsError)(nil); errors.As(werr, &ie) {
			return // a SCRAM count over the bound: refused before the driver derives the key
		}
		want, ok := referenceRefusal(stream)
		if !ok {
			return // pgproto3 stopped on a message it rejects before anything decisive
		}
		if want == "" {
			// An ErrorResponse whose text is not safe to show fails the
			// read, escaped (the driver ends on it anyway): not a refusal.
			var se *SafeError
			if werr != nil && !(whole == "" && errors.As(werr, &se)) {
				t.Fatalf("refused (%q, %v); pgproto3 reads nothing decisive", whole, werr)
			}
			return
		}
		if werr == nil || whole != want {
			t.Fatalf("watch: %q %v; pgproto3 reads %q first", whole, werr, want)
		}
	})
}

// referenceRefusal reads stream with pgx's own frontend parser and returns
// the method of the first message the protection must refuse ("" for
// none), and false when pgproto3 rejects the stream before that.
func referenceRefusal(stream []byte) (string, bool) {
	fe := pgproto3.NewFrontend(bytes.NewReader(stream), io.Discard)
	method := ""
	for off := 0; ; {
		// Where this message ends, to tell the stream's end from a
		// message pgproto3 rejects (it says EOF for some of those too).
		end := len(stream) + 1
		if off+5 <= len(stream) {
			end = off + 1 + int(binary.BigEndian.Uint32(stream[off+1:]))
		}
		msg, err := fe.Receive()
		if err != nil {
			return "", end > len(stream) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
		}
		off = end
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse, *pgproto3.ReadyForQuery:
			return "", true
		case *pgproto3.AuthenticationOk:
			if method == "" {
				return AuthTrust, true
			}
			return method, true
		case *pgproto3.AuthenticationCleartextPassword:
			return AuthPassword, true
		case *pgproto3.AuthenticationMD5Password:
			return AuthMD5, true
		case *pgproto3.AuthenticationGSS, *pgproto3.AuthenticationGSSContinue:
			return AuthGSS, true
		case *pgproto3.AuthenticationSASL:
			plus, scram := false, false
			for _, mech := range m.AuthMechanisms {
				plus = plus || mech == "SCRAM-SHA-256-PLUS"
				scram = scram || mech == "SCRAM-SHA-256" || mech == "SCRAM-SHA-256-PLUS"
			}
			switch {
			case !scram:
				return AuthOAuth, true
			case !plus:
				return AuthSCRAM, true
			}
			method = AuthSCRAM // PLUS offered, no client choice in this stream
		}
	}
}

// TestAuthWatchNeedsTheServersProof: a peer that answers the client's
// SCRAM-SHA-256-PLUS choice with AuthenticationOk, skipping the exchange,
// is refused.
// boundSCRAMWatch is a protecting watch (pgx with a credential) after
// the server's SASL offer and the client's SCRAM-SHA-256-PLUS choice.
func boundSCRAMWatch(t *testing.T) *authWatch {
	t.Helper()
	w := NewAuthWatch(Policy{}, "h:5432", false)
	w.protect, w.canBind, w.credential = true, true, true
	if err := w.read(msgSASLPlus); err != nil {
		t.Fatal(err)
	}
	initial := []byte{'p', 0, 0, 0, 0}
	initial = append(initial, "SCRAM-SHA-256-PLUS\x00\x00\x00\x00\x04abcd"...)
	binary.BigEndian.PutUint32(initial[1:], uint32(len(initial)-1))
	w.write(initial)
	return w
}

func TestAuthWatchNeedsTheServersProof(t *testing.T) {
	w := boundSCRAMWatch(t)
	var v *Violation
	if err := w.read(msgOK); !errors.As(err, &v) || v.Reason != ReasonPasswordUnverified {
		t.Fatalf("AuthenticationOk without the server's proof: %v", err)
	}
	if _, bound := w.result(); bound {
		t.Fatal("reported as bound")
	}
}

// TestAuthWatchGrades: what each grade of the password protection lets
// the server ask for, for a driver that binds SCRAM (pgx) and one that
// cannot (lib/pq), with and without a credential to lose.
func TestAuthWatchGrades(t *testing.T) {
	for _, tc := range []struct {
		name          string
		grade         PasswordGrade
		canBind, cred bool
		stream        []byte
		refused       bool
	}{
		{"bound/pq/SCRAM offered with PLUS", PasswordBound, false, true, msgSASLPlus, true},
		{"bound/pq/SCRAM", PasswordBound, false, true, msgSASL, true},
		{"bound/pgx/SCRAM without PLUS", PasswordBound, true, true, msgSASL, true},
		{"bound/pgx/PLUS offered", PasswordBound, true, true, msgSASLPlus, false},
		{"scram/pq/SCRAM", PasswordSCRAM, false, true, msgSASL, false},
		{"scram/pq/SCRAM offered with PLUS", PasswordSCRAM, false, true, msgSASLPlus, false},
		{"scram/pgx/SCRAM", PasswordSCRAM, true, true, msgSASL, false},
		{"scram/pq/cleartext", PasswordSCRAM, false, true, msgCleartext, true},
		{"scram/pgx/md5", PasswordSCRAM, true, true, msgMD5, true},
		{"scram/pq/OAUTHBEARER", PasswordSCRAM, false, true, authMsg(10, []byte("OAUTHBEARER\x00\x00")...), true},
		{"bound/pq/cleartext without a credential", PasswordBound, false, false, msgCleartext, true},
		{"bound/pq/ok at once without a credential", PasswordBound, false, false, msgOK, false},
		{"bound/pq/ok at once with a credential", PasswordBound, false, true, msgOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewAuthWatch(Policy{}, "h:5432", false)
			w.protect, w.grade, w.canBind, w.credential = true, tc.grade, tc.canBind, tc.cred
			err := w.read(tc.stream)
			var v *Violation
			if got := errors.As(err, &v) && v.Reason == ReasonPasswordUnverified; got != tc.refused {
				t.Fatalf("refused %v (%v), want %v", got, err, tc.refused)
			}
		})
	}
}

// TestAuthWatchStartupBudget: small messages that add up to more than
// MaxStartupBytes before ReadyForQuery are cut off at the header of the
// one that crosses it; after ReadyForQuery nothing is counted.
func TestAuthWatchStartupBudget(t *testing.T) {
	param := []byte{'S', 0, 0, 0, 12, 'n', 'a', 'm', 'e', 0, 'v', 'a', 0}
	w := NewAuthWatch(Policy{}, "", false)
	if err := w.read(msgOK); err != nil {
		t.Fatal(err)
	}
	sent := len(msgOK)
	var err error
	for err == nil && sent <= 2*MaxStartupBytes {
		err = w.read(param)
		sent += len(param)
	}
	var fe *floodError
	if !errors.As(err, &fe) || sent <= MaxStartupBytes || sent > MaxStartupBytes+len(param) {
		t.Fatalf("after %d bytes: %v", sent, err)
	}
	w = NewAuthWatch(Policy{}, "", false)
	if err := w.read(append(append([]byte(nil), msgOK...), 'Z', 0, 0, 0, 5, 'I')); err != nil {
		t.Fatal(err)
	}
	for range MaxStartupBytes/len(param) + 1 {
		if err := w.read(param); err != nil {
			t.Fatalf("after the session started: %v", err)
		}
	}
}

// TestAuthWatchSCRAMIterations: a server-first-message asking for more
// iterations than MaxSCRAMIterations (the drivers would derive the key for
// as long as it takes, context or not) fails the read before the driver
// sees it; PostgreSQL's counts pass.
func TestAuthWatchSCRAMIterations(t *testing.T) {
	for _, tc := range []struct {
		iterations string
		refused    bool
	}{
		{"4096", false},
		{"1048576", false},
		{"1048577", true},
		{"2147483647", true},
		{"99999999999999999999999", true},
		{"-1", true},
		{"", true},
	} {
		w := boundSCRAMWatch(t)
		err := w.read(authMsg(11, []byte("r=abcdEFGH,s=c2FsdA==,i="+tc.iterations)...))
		if (err != nil) != tc.refused {
			t.Errorf("i=%s: %v, want refused %v", tc.iterations, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "SCRAM iterations") {
			t.Errorf("i=%s: %v", tc.iterations, err)
		}
	}
}
