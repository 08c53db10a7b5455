package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/lab"
)

// demo starts a throwaway PostgreSQL with TLS on 127.0.0.1 and shows what
// securepg does with it. Everything it starts is removed at the end, also
// on Ctrl-C or SIGTERM at any step (lab.Start honours the context while
// initdb and the server start): it then stops, says it was interrupted
// and exits with exitError. Its directories are made under $TMPDIR.
func (e *env) demo(ctx context.Context, args []string) int {
	if ok, code := e.flags("demo", args, func(*flag.FlagSet) {}); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	out := e.stdout
	// failed ends the demo on err, or says it was interrupted when the
	// context is done (err is then the context's, or what it caused).
	failed := func(err error) int {
		if ctx.Err() != nil {
			return e.fail(exitError, "demo: interrupted")
		}
		return e.fail(exitError, "demo: %v", err)
	}
	// step starts step n, unless the demo was interrupted.
	step := func(n int, title string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(out, "\n%s %s\n", e.bold(fmt.Sprintf("[%d/8]", n)), title)
		return nil
	}
	say := func(format string, a ...any) { fmt.Fprintf(out, "      "+format+"\n", a...) }

	fmt.Fprintln(out, e.bold("securepg demo")+": a throwaway PostgreSQL with TLS on 127.0.0.1, and what securepg does with it")
	if err := step(1, "starting PostgreSQL"); err != nil {
		return failed(err)
	}
	if _, err := lab.FindBinDir(); err != nil {
		return failed(err)
	}
	cluster, err := lab.Start(ctx, func(s string) { say("%s", s) })
	if err != nil {
		return failed(err) // lab.Start removed what it made
	}
	defer func() {
		err := cluster.Stop()
		fmt.Fprintf(out, "\ncleaned up: stopped PostgreSQL and removed %s", cluster.Dir)
		if err != nil {
			fmt.Fprintf(out, " (%v)", err)
		}
		fmt.Fprintf(out, "; %.1fs in all\n", time.Since(start).Seconds())
	}()
	say("PostgreSQL %s ready on %s with ssl=on, CA %s", cluster.Version, cluster.Addr(), cluster.Certs.CAFile)

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	common := []securepg.Option{securepg.WithMeterProvider(mp), securepg.WithLogger(logger), securepg.WithMinSSLMode("verify-full")}

	if err := step(2, "a weak DSN: sslmode=prefer (TLS if the server offers it, plaintext otherwise)"); err != nil {
		return failed(err)
	}
	weak := cluster.DSN("sslmode=prefer")
	say("sql.Open(\"securepg\", %q)", core.RedactDSN(core.DriverPgx, weak))
	_, err = securepg.NewConnector(weak, common...)
	var pe *securepg.PolicyError
	if !errors.As(err, &pe) {
		return e.fail(exitError, "demo: the weak DSN was not refused: %v", err)
	}
	say("%s before anything was dialed: reason %s (got %s, want %s)", e.red("refused"), pe.Reason, pe.Got, pe.Want)
	say("%s", pe.Error())

	if err := step(3, "a verify-full DSN with the demo's CA"); err != nil {
		return failed(err)
	}
	strong := cluster.DSN("sslmode=verify-full", "sslrootcert="+cluster.Certs.CAFile)
	say("sql.Open(\"securepg\", %q)", core.RedactDSN(core.DriverPgx, strong))
	var info hooks.ConnInfo
	c, err := securepg.NewConnector(strong, append(common, securepg.WithHooks(hooks.Hooks{
		AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; return nil }}))...)
	if err != nil {
		return failed(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var who string
	if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&who); err != nil {
		return failed(err)
	}
	say("%s: %s, certificate verified %s; SELECT current_user = %s", e.green("connected"),
		core.TLSVersionName(info.Version), info.Verification, who)

	if err := step(4, "securepg probe of that server"); err != nil {
		return failed(err)
	}
	p := core.DefaultPolicy()
	if err := p.Load(); err != nil {
		return failed(err)
	}
	backend, plan, err := core.Prepare(strong, p)
	if err != nil {
		return failed(err)
	}
	r := e.probeReport(ctx, strong, p, backend, plan, false)
	var buf bytes.Buffer
	sub := *e
	sub.stdout = &buf
	sub.printProbe(r)
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		say("%s", line)
	}

	if err := step(5, "audit mode (SECUREPG_MODE=audit): sslmode=require connects, and is reported"); err != nil {
		return failed(err)
	}
	lax := cluster.DSN("sslmode=require")
	logs.Reset()
	c, err = securepg.NewConnector(lax, append(common, securepg.WithMode("audit"))...)
	if err != nil {
		return failed(err)
	}
	adb := sql.OpenDB(c)
	defer adb.Close()
	if err := adb.PingContext(ctx); err != nil {
		return failed(err)
	}
	say("%s; the log says:", e.green("connected"))
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		say("  %s", line)
	}

	// connectAs tries one connection with extra options, and says what
	// happened.
	connectAs := func(dsn string, opts ...securepg.Option) {
		c, err := securepg.NewConnector(dsn, append(append([]securepg.Option(nil), common...), opts...)...)
		if err == nil {
			db := sql.OpenDB(c)
			err = db.PingContext(ctx)
			db.Close()
		}
		if errors.As(err, &pe) {
			say("%s: reason %s", e.red("refused"), pe.Reason)
			say("%s", pe.Error())
			return
		}
		if err != nil {
			say("%s: %s", e.red("failed"), core.SafeText(err.Error()))
			return
		}
		say("%s", e.green("connected"))
	}

	if err := step(6, "private endpoints only (SECUREPG_ALLOWED_NETWORKS): checked on the address actually dialed"); err != nil {
		return failed(err)
	}
	say("SECUREPG_ALLOWED_NETWORKS=10.0.0.0/8, and localhost is 127.0.0.1:")
	connectAs(strong, securepg.WithAllowedNetworks("10.0.0.0/8"))
	say("SECUREPG_ALLOWED_NETWORKS=private (RFC 1918, RFC 4193, loopback):")
	connectAs(strong, securepg.WithAllowedNetworks("private"))

	if err := step(7, "least privilege (SECUREPG_FORBID_SUPERUSER=true): is_superuser at startup, else one query about the role"); err != nil {
		return failed(err)
	}
	super := strings.Replace(strong, "user="+cluster.User, "user="+lab.SuperUser, 1)
	say("as %s, a superuser:", lab.SuperUser)
	connectAs(super, securepg.WithForbidSuperuser(true))
	say("as %s, a plain role:", cluster.User)
	connectAs(strong, securepg.WithForbidSuperuser(true))

	if err := step(8, "metrics recorded (OpenTelemetry)"); err != nil {
		return failed(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return failed(err)
	}
	for _, line := range metricLines(rm) {
		say("%s", line)
	}
	return exitOK
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// metricLines renders securepg's counters and gauges, one line a point.
func metricLines(rm metricdata.ResourceMetrics) []string {
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s{%s} %d", m.Name, attrString(dp.Attributes), dp.Value))
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s{%s} %.0f (%.0f days)", m.Name, attrString(dp.Attributes), dp.Value, dp.Value/86400))
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s{%s} count=%d sum=%.4fs", m.Name, attrString(dp.Attributes), dp.Count, dp.Sum))
				}
			}
		}
	}
	sort.Strings(lines)
	return lines
}

// attrString renders a point's attributes, leaving out the constant ones.
func attrString(set attribute.Set) string {
	var parts []string
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		switch kv.Key {
		case "db.system.name", "securepg.driver":
			continue
		}
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}
