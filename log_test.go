package securepg_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/securepg/securepg"

	"github.com/securepg/securepg/hooks"
)

// recordHandler keeps every log record, for assertions.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.records...)
}

func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// text renders records as the JSON handler would, for leak checks.
func (h *recordHandler) text() string {
	var b bytes.Buffer
	jh := slog.NewJSONHandler(&b, nil)
	for _, r := range h.all() {
		jh.Handle(context.Background(), r)
	}
	return b.String()
}

func TestAuditModeLogsEveryViolationAtWarn(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			h := &recordHandler{}
			conn, err := securepg.NewConnector(l.at(l.relay, "sslmode=require"), withBackend(drv), securepg.WithMode("audit"), securepg.WithLogger(slog.New(h)))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(conn)
			defer db.Close()
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			var warned bool
			for _, r := range h.all() {
				a := attrs(r)
				if r.Level == slog.LevelWarn && a["reason"] == securepg.ReasonUnverifiedCertificate && a["got"] == "require" &&
					a["want"] == "verify-full" && a["host"] == "localhost:"+l.relay.PortString() && a["mode"] == "audit" {
					warned = true
				}
				if r.Level > slog.LevelWarn {
					t.Errorf("audit mode logged at %s: %s", r.Level, r.Message)
				}
			}
			if !warned {
				t.Fatalf("no warn record for the violation; got %s", h.text())
			}
			if strings.Contains(h.text(), l.Password) {
				t.Fatal("a log record contains the password")
			}
		})
	}
}

func TestEnforceModeLogsRefusalAtError(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			h := &recordHandler{}
			// Refused at open.
			_, err := securepg.NewConnector(l.at(l.relay, "sslmode=prefer"), withBackend(drv), securepg.WithLogger(slog.New(h)))
			requireReason(t, err, securepg.ReasonPlaintextFallback)
			// Refused when connecting.
			c, err := securepg.NewConnector(l.at(l.wrongHost, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), withBackend(drv), securepg.WithLogger(slog.New(h)))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			requireReason(t, db.Ping(), securepg.ReasonHostnameMismatch)
			var reasons []string
			for _, r := range h.all() {
				if r.Level != slog.LevelError {
					t.Errorf("enforce mode logged %q at %s", r.Message, r.Level)
				}
				reasons = append(reasons, attrs(r)["reason"])
			}
			if strings.Join(reasons, ",") != securepg.ReasonPlaintextFallback+","+securepg.ReasonHostnameMismatch {
				t.Fatalf("logged reasons %v", reasons)
			}
			if strings.Contains(h.text(), l.Password) {
				t.Fatal("a log record contains the password")
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLogsAreRateLimited: a violation that repeats on every new
// connection is logged once a minute per connector, not once per
// connection; OnViolation hooks still hear every one.
func TestLogsAreRateLimited(t *testing.T) {
	l := getLab(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			isolateEnv(t)
			h := &recordHandler{}
			var heard atomic.Int32
			c, err := securepg.NewConnector(l.at(l.wrongHost, "sslmode=verify-full", "sslrootcert="+l.Certs.CAFile), withBackend(drv),
				securepg.WithLogger(slog.New(h)), securepg.WithHooks(hooks.Hooks{OnViolation: func(context.Context, *hooks.Violation) { heard.Add(1) }}))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			for range 10 {
				requireReason(t, db.Ping(), securepg.ReasonHostnameMismatch)
			}
			if n := len(h.all()); n != 1 {
				t.Fatalf("%d log records for 10 identical refusals", n)
			}
			if heard.Load() != 10 {
				t.Fatalf("OnViolation heard %d of 10", heard.Load())
			}
		})
	}
}
