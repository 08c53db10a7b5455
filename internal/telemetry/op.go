package telemetry

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Op is an operation in flight. The zero Op observes nothing: that is what
// Start returns when no provider is installed.
type Op struct {
	c     *Conn
	si    *stmtInfo
	p     *prepared
	span  trace.Span
	start time.Time
}

// Start begins observing an operation of kind on c.
func (c *Conn) Start(ctx context.Context, kind, query string) (context.Context, Op) {
	if c == nil {
		return ctx, Op{}
	}
	t := c.t
	// database/sql pings and resets sessions all the time: observed only
	// when the span filter asks for them.
	if (kind == KindReset || kind == KindPing) && (t.s.Filter == nil || !t.s.Filter(ctx, kind, query)) {
		return ctx, Op{}
	}
	tracing := t.opSpans && t.tracing()
	if !tracing && !t.metering(ctx) {
		return ctx, Op{}
	}
	tracing = tracing && (t.s.Filter == nil || t.s.Filter(ctx, kind, query))
	si := t.stmt(kind, query)
	o := Op{c: c, si: si, p: c.prepared(si), start: time.Now()}
	if tracing {
		ctx, o.span = t.tracer.Start(ctx, si.name, o.p.spanOpts...)
	}
	return ctx, o
}

// Active reports whether o observes anything.
func (o Op) Active() bool { return o.c != nil }

// End finishes o with the operation's error, if any. driver.ErrSkip (the
// driver declined; database/sql will try another way) and io.EOF are not
// failures.
func (o Op) End(ctx context.Context, err error) {
	if o.c == nil {
		return
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	skipped := errors.Is(err, driver.ErrSkip)
	if skipped {
		err = nil
	}
	d := time.Since(o.start).Seconds()
	var errAttrs []attribute.KeyValue
	if err != nil {
		errAttrs = ErrorAttrs(err)
	}
	if o.span != nil {
		if err != nil {
			o.span.SetAttributes(errAttrs...)
			o.span.SetStatus(codes.Error, errAttrs[len(errAttrs)-1].Value.AsString())
		}
		o.span.End()
	}
	if skipped || !o.c.t.metering(ctx) {
		return
	}
	if err == nil {
		o.c.t.opDuration.Record(ctx, d, o.p.recordOpts...)
		return
	}
	o.c.t.opDuration.Record(ctx, d, metric.WithAttributes(o.c.metricAttrs(o.si, errAttrs...)...))
}
