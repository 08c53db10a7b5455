package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
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
// and exits with exitInterrupted. Its directories are made under $TMPDIR.
func (e *env) demo(ctx context.Context, args []string) int {
	if ok, code := e.flags("demo", args, func(*flag.FlagSet) {}); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	d := &demoSession{e: e, ctx: ctx, out: e.stdout}
	// failed ends the demo on err, or says it was interrupted when the
	// context is done (err is then the context's, or what it caused).
	failed := func(err error) int {
		if ctx.Err() != nil {
			return e.fail(exitInterrupted, "demo: interrupted")
		}
		return e.fail(exitError, "demo: %v", err)
	}

	fmt.Fprintln(d.out, e.bold("securepg demo")+": a throwaway PostgreSQL with TLS on 127.0.0.1, and what securepg does with it")
	if err := d.step(1, "starting PostgreSQL"); err != nil {
		return failed(err)
	}
	if _, err := lab.FindBinDir(); err != nil {
		return failed(err)
	}
	cluster, err := lab.Start(ctx, func(s string) { d.say("%s", s) })
	if err != nil {
		return failed(err) // lab.Start removed what it made
	}
	defer func() {
		err := cluster.Stop()
		fmt.Fprintf(d.out, "\ncleaned up: stopped PostgreSQL and removed %s", cluster.Dir)
		if err != nil {
			fmt.Fprintf(d.out, " (%v)", err)
		}
		fmt.Fprintf(d.out, "; %.1fs in all\n", time.Since(start).Seconds())
	}()
	d.cluster = cluster
	d.say("PostgreSQL %s ready on %s with ssl=on, CA %s", cluster.Version, cluster.Addr(), cluster.Certs.CAFile)

	d.reader = sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(d.reader))
	defer mp.Shutdown(context.Background())
	logger := slog.New(slog.NewTextHandler(&d.logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	d.common = []securepg.Option{securepg.WithMeterProvider(mp), securepg.WithLogger(logger), securepg.WithMinSSLMode("verify-full")}
	d.strong = cluster.DSN("sslmode=verify-full", "sslrootcert="+cluster.Certs.CAFile)

	for _, step := range []func() error{d.weak, d.verified, d.probe, d.audit, d.networks, d.privilege, d.metrics} {
		if err := step(); err != nil {
			return failed(err)
		}
	}
	return exitOK
}

// demoSession is one run of the demo: its server, its options, and what it
// recorded.
type demoSession struct {
	e       *env
	ctx     context.Context
	out     io.Writer
	cluster *lab.Cluster
	common  []securepg.Option // every connector's: metrics, the log, verify-full
	strong  string            // the verify-full DSN
	logs    bytes.Buffer
	reader  *sdkmetric.ManualReader
}

// step starts step n, unless the demo was interrupted.
func (d *demoSession) step(n int, title string) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\n%s %s\n", d.e.bold(fmt.Sprintf("[%d/8]", n)), title)
	return nil
}

func (d *demoSession) say(format string, a ...any) { fmt.Fprintf(d.out, "      "+format+"\n", a...) }

func (d *demoSession) weak() error {
	if err := d.step(2, "a weak DSN: sslmode=prefer (TLS if the server offers it, plaintext otherwise)"); err != nil {
		return err
	}
	weak := d.cluster.DSN("sslmode=prefer")
	d.say("sql.Open(\"securepg\", %q)", redactDSN(core.DriverPgx, weak))
	_, err := securepg.NewConnector(weak, d.common...)
	var pe *securepg.PolicyError
	if !errors.As(err, &pe) {
		return fmt.Errorf("the weak DSN was not refused: %v", err)
	}
	d.say("%s before anything was dialed: reason %s (got %s, want %s)", d.e.red("refused"), pe.Reason, pe.Got, pe.Want)
	d.say("%s", pe.Error())
	return nil
}

func (d *demoSession) verified() error {
	if err := d.step(3, "a verify-full DSN with the demo's CA"); err != nil {
		return err
	}
	d.say("sql.Open(\"securepg\", %q)", redactDSN(core.DriverPgx, d.strong))
	var info hooks.ConnInfo
	c, err := securepg.NewConnector(d.strong, append(d.common, securepg.WithHooks(hooks.Hooks{
		AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; return nil }}))...)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var who string
	if err := db.QueryRowContext(d.ctx, "SELECT current_user").Scan(&who); err != nil {
		return err
	}
	d.say("%s: %s, certificate verified %s; SELECT current_user = %s", d.e.green("connected"),
		core.TLSVersionName(info.Version), info.Verification, who)
	return nil
}

func (d *demoSession) probe() error {
	if err := d.step(4, "securepg probe of that server"); err != nil {
		return err
	}
	p := core.DefaultPolicy()
	if err := p.Load(); err != nil {
		return err
	}
	backend, plan, err := prepare(d.strong, p)
	if err != nil {
		return err
	}
	r := d.e.probeReport(d.ctx, d.strong, p, backend, plan, false)
	var buf bytes.Buffer
	sub := *d.e
	sub.stdout = &buf
	sub.printProbe(r)
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		d.say("%s", line)
	}
	return nil
}

func (d *demoSession) audit() error {
	if err := d.step(5, "audit mode (SECUREPG_MODE=audit): sslmode=require connects, and is reported"); err != nil {
		return err
	}
	lax := d.cluster.DSN("sslmode=require")
	d.logs.Reset()
	c, err := securepg.NewConnector(lax, append(d.common, securepg.WithMode("audit"))...)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.PingContext(d.ctx); err != nil {
		return err
	}
	d.say("%s; the log says:", d.e.green("connected"))
	for _, line := range strings.Split(strings.TrimSpace(d.logs.String()), "\n") {
		d.say("  %s", line)
	}
	return nil
}

// connectAs tries one connection with extra options, and says what
// happened.
func (d *demoSession) connectAs(dsn string, opts ...securepg.Option) {
	c, err := securepg.NewConnector(dsn, append(append([]securepg.Option(nil), d.common...), opts...)...)
	if err == nil {
		db := sql.OpenDB(c)
		err = db.PingContext(d.ctx)
		db.Close()
	}
	var pe *securepg.PolicyError
	if errors.As(err, &pe) {
		d.say("%s: reason %s", d.e.red("refused"), pe.Reason)
		d.say("%s", pe.Error())
		return
	}
	if err != nil {
		d.say("%s: %s", d.e.red("failed"), core.SafeText(err.Error()))
		return
	}
	d.say("%s", d.e.green("connected"))
}

func (d *demoSession) networks() error {
	if err := d.step(6, "private endpoints only (SECUREPG_ALLOWED_NETWORKS): checked on the address actually dialed"); err != nil {
		return err
	}
	d.say("SECUREPG_ALLOWED_NETWORKS=10.0.0.0/8, and localhost is 127.0.0.1:")
	d.connectAs(d.strong, securepg.WithAllowedNetworks("10.0.0.0/8"))
	d.say("SECUREPG_ALLOWED_NETWORKS=private (RFC 1918, RFC 4193, loopback):")
	d.connectAs(d.strong, securepg.WithAllowedNetworks("private"))
	return nil
}

func (d *demoSession) privilege() error {
	if err := d.step(7, "least privilege (SECUREPG_FORBID_SUPERUSER=true): is_superuser at startup, else one query about the role"); err != nil {
		return err
	}
	super := strings.Replace(d.strong, "user="+d.cluster.User, "user="+lab.SuperUser, 1)
	d.say("as %s, a superuser:", lab.SuperUser)
	d.connectAs(super, securepg.WithForbidSuperuser(true))
	d.say("as %s, a plain role:", d.cluster.User)
	d.connectAs(d.strong, securepg.WithForbidSuperuser(true))
	return nil
}

func (d *demoSession) metrics() error {
	if err := d.step(8, "metrics recorded (OpenTelemetry)"); err != nil {
		return err
	}
	var rm metricdata.ResourceMetrics
	if err := d.reader.Collect(d.ctx, &rm); err != nil {
		return err
	}
	for _, line := range metricLines(rm) {
		d.say("%s", line)
	}
	return nil
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
