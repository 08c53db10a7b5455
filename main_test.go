package securepg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/securepg/securepg/lab/labtest"
)

// TestMain runs the suite with a real OpenTelemetry SDK installed globally
// and every log record captured, then searches everything the suite
// produced (span names, attributes, events and statuses, metric points,
// log records) for a password or a DSN. Benchmarks run without it, so
// that they measure securepg with no provider installed.
func TestMain(m *testing.M) {
	flag.Parse()
	var col *collector
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		col = installCollector()
	}
	code := labtest.RunMain(m)
	if col != nil && code == 0 {
		if err := col.check(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: telemetry leak check:", err)
			code = 1
		}
	}
	os.Exit(code)
}

type collector struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	mu     sync.Mutex
	logs   bytes.Buffer
}

type lockedWriter struct{ c *collector }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.logs.Write(p)
}

func installCollector() *collector {
	c := &collector{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(c.spans)))
	// No exemplars: their trace and span IDs are random bytes, which JSON
	// shows in base64, where the canary could appear by chance.
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(c.reader), sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter)))
	slog.SetDefault(slog.New(slog.NewJSONHandler(lockedWriter{c}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return c
}

// secretCanary: every secret the tests invent starts with it.
const secretCanary = "Zq7"

var dsnPattern = regexp.MustCompile(`password=|postgres(ql)?://[^\s"]*:[^\s"]*@`)

func (c *collector) check() error {
	var b strings.Builder
	spans := c.spans.Ended()
	for _, sp := range spans {
		fmt.Fprintf(&b, "span %s status=%q\n", sp.Name(), sp.Status().Description)
		for _, kv := range sp.Attributes() {
			fmt.Fprintf(&b, "  %s=%s\n", kv.Key, kv.Value.String())
		}
		for _, ev := range sp.Events() {
			fmt.Fprintf(&b, "  event %s %v\n", ev.Name, ev.Attributes)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := c.reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	mj, err := json.Marshal(rm.ScopeMetrics)
	if err != nil {
		return err
	}
	b.Write(mj)
	c.mu.Lock()
	b.Write(c.logs.Bytes())
	c.mu.Unlock()
	all := b.String()
	secrets := []string{secretCanary}
	secrets = append(secrets, labPasswords()...) // every server's, PostgreSQL 18's too
	for _, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			return fmt.Errorf("a secret in telemetry or logs: ...%s...", all[max(0, i-200):min(len(all), i+40)])
		}
	}
	if loc := dsnPattern.FindStringIndex(all); loc != nil {
		return fmt.Errorf("a DSN in telemetry or logs: ...%s...", all[max(0, loc[0]-200):min(len(all), loc[1]+40)])
	}
	return nil
}
