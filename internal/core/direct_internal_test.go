package core

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestDirectNotSpoken(t *testing.T) {
	p := Policy{MinSSLMode: ModeVerifyFull}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"EOF", io.EOF, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"reset", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}, true},
		{"plaintext answer", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'E', 0, 0, 0, 'x'}}, true},
		{"alert", tls.AlertError(40), false},
		{"a violation of its own", &Violation{Reason: ReasonCertificateUntrusted}, false},
		{"deadline", os.ErrDeadlineExceeded, false},
		{"other", errors.New("tls: handshake failure"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := DirectNotSpoken("db:5432", p, tc.err)
			if (v != nil) != tc.want {
				t.Fatalf("directNotSpoken(%v) = %v, want a violation: %v", tc.err, v, tc.want)
			}
			if v == nil {
				return
			}
			if v.Reason != ReasonTLSNotEstablished || !v.Hard {
				t.Fatalf("reason %q hard %v", v.Reason, v.Hard)
			}
			if msg := v.Error(); !strings.Contains(msg, "sslnegotiation=direct") {
				t.Fatalf("message %q", msg)
			}
		})
	}
}
