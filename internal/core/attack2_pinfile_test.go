package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAttack2PinFileSwaps: a pin file swapped for a FIFO, /dev/zero, a
// huge file, a symlink loop, an empty file or a secret-looking line keeps
// the last good pins within the grace, without blocking, then fails
// closed; no error repeats the file's text.
func TestAttack2PinFileSwaps(t *testing.T) {
	sum := sha256.Sum256([]byte("leaf"))
	good := []byte(base64.StdEncoding.EncodeToString(sum[:]) + "\n")
	for _, tc := range []struct {
		name string
		swap func(t *testing.T, path string)
	}{
		{"fifo", func(t *testing.T, path string) { os.Remove(path); syscall.Mkfifo(path, 0o600) }},
		{"dev-zero", func(t *testing.T, path string) { os.Remove(path); os.Symlink("/dev/zero", path) }},
		{"huge", func(t *testing.T, path string) { os.WriteFile(path, make([]byte, MaxKeyFileSize+1), 0o600) }},
		{"loop", func(t *testing.T, path string) {
			os.Remove(path)
			os.Symlink(path+".b", path)
			os.Symlink(path, path+".b")
		}},
		{"empty", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }},
		{"secret", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(string(good)+"password=Zq7hunter2\n"), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pins")
			os.WriteFile(path, good, 0o600)
			p := DefaultPolicy()
			p.Set(EnvPinSHA256File, path, EnvPinSHA256File)
			if err := p.Load(); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			p.PinsFile.now = func() time.Time { return now }
			tc.swap(t, path)
			done := make(chan struct{})
			var pins Pins
			var err error
			go func() {
				defer close(done)
				now = now.Add(3 * time.Second)
				pins, err = p.PinsFile.Refresh(context.Background())
				if err != nil || len(pins) != 1 {
					t.Errorf("within the grace: %v %v", pins, err)
				}
				now = now.Add(11 * time.Second)
				pins, err = p.PinsFile.Refresh(context.Background())
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("blocked")
			}
			if err == nil || len(pins) != 0 {
				t.Fatalf("after the grace: %v %v", pins, err)
			}
			f := Facts{Network: "tcp", Host: "db", Port: 5432, Mode: ModeVerifyFull, TLS: true, Version: 0x0304, Verify: VerifyFull, Pins: pins, PinsErr: err}
			refusal, _ := Pass(p, Check{Stage: StageHandshake, Facts: f})
			if refusal == nil || refusal.Reason != ReasonPinMismatch || strings.Contains(refusal.Error(), "hunter2") {
				t.Fatalf("%v", refusal)
			}
		})
	}
}
