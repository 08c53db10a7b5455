package securepg

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

// call is one observed operation: its telemetry and its query hooks.
type call struct {
	op telemetry.Op
	q  *hooks.QueryEvent // nil when no query hook runs
	hs *hookSet
}

// startCall begins observing an operation. Query hooks see Exec and Query
// only. With neither telemetry nor hooks it costs two atomic loads.
func startCall(ctx context.Context, obs *telemetry.Conn, hs *hookSet, kind, query string, args []driver.NamedValue) (context.Context, call) {
	ctx, op := obs.Start(ctx, kind, query)
	c := call{op: op, hs: hs}
	if hs != nil && (kind == telemetry.KindQuery || kind == telemetry.KindExec) {
		ctx, c.q = hs.beforeQuery(ctx, kind, query, args)
	}
	return ctx, c
}

func (c call) end(ctx context.Context, err error) {
	if c.q != nil {
		c.hs.afterQuery(ctx, c.q, err)
	}
	c.op.End(ctx, err)
}

// beforeQuery starts a QueryEvent (with args only when a set wants them)
// and runs the BeforeQuery hooks in order. Query hooks observe: a panic is
// recovered, logged, and does not fail the query.
func (h *hookSet) beforeQuery(ctx context.Context, op, sql string, args []driver.NamedValue) (context.Context, *hooks.QueryEvent) {
	q := &hooks.QueryEvent{Op: op, SQL: sql, Start: time.Now()}
	if h.args {
		q.Args = args
	}
	for i, s := range h.sets {
		if s.BeforeQuery != nil {
			h.runQueryHook(ctx, "BeforeQuery", i, s.QueryArgs, q, func() { ctx = s.BeforeQuery(ctx, q) })
		}
	}
	return ctx, q
}

// afterQuery ends q with err and runs the AfterQuery hooks in reverse
// order.
func (h *hookSet) afterQuery(ctx context.Context, q *hooks.QueryEvent, err error) {
	q.Duration, q.Err = time.Since(q.Start), err
	for i := len(h.sets) - 1; i >= 0; i-- {
		if s := h.sets[i]; s.AfterQuery != nil {
			h.runQueryHook(ctx, "AfterQuery", i, s.QueryArgs, q, func() { s.AfterQuery(ctx, q) })
		}
	}
}

// runQueryHook calls f, showing q's arguments only to a set that asked for
// them, and logs a panic.
func (h *hookSet) runQueryHook(ctx context.Context, name string, i int, wantArgs bool, q *hooks.QueryEvent, f func()) {
	args := q.Args
	if !wantArgs {
		q.Args = nil
	}
	defer func() { q.Args = args }()
	if _, err := callHook(name, i, func() (struct{}, error) { f(); return struct{}{}, nil }); err != nil {
		h.logger().LogAttrs(ctx, slog.LevelError, "securepg: query hook failed", slog.String("error", core.SafeText(err.Error())))
	}
}

// pgxTracer is what pgx connections report to: telemetry, and the
// connector's query hooks when some are installed.
func (c *connector) pgxTracer() pgx.QueryTracer {
	if !c.hooks.query {
		return telemetry.PgxTracer{}
	}
	return multitracer.New(telemetry.PgxTracer{}, hookTracer{c.hooks, c.native})
}

// hookTracer runs a connector's query hooks on its pgx connections.
type hookTracer struct {
	hs     *hookSet
	native bool // pgx's own API (ConfigurePgx): Query and Exec look alike
}

// op is the QueryEvent.Op of a statement pgx traces: through database/sql,
// pgx's adapter passes its result formats first to a query, never to an
// exec; through pgx's own API the two cannot be told apart.
func (t hookTracer) op(args []any) string {
	if t.native {
		return hooks.OpPgx
	}
	if len(args) > 0 {
		if _, ok := args[0].(pgx.QueryResultFormatsByOID); ok {
			return telemetry.KindQuery
		}
	}
	return telemetry.KindExec
}

type queryEventKey struct{}

func (t hookTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	var args []driver.NamedValue
	if t.hs.args {
		args = pgxArgs(data.Args)
	}
	ctx, q := t.hs.beforeQuery(ctx, t.op(data.Args), data.SQL, args)
	return context.WithValue(ctx, queryEventKey{}, q)
}

func (t hookTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if q, _ := ctx.Value(queryEventKey{}).(*hooks.QueryEvent); q != nil {
		t.hs.afterQuery(ctx, q, data.Err)
	}
}

// pgxArgs turns pgx's query arguments into NamedValues, leaving out the
// query options that database/sql's pgx adapter passes among them.
func pgxArgs(args []any) []driver.NamedValue {
	out := make([]driver.NamedValue, 0, len(args))
	for _, a := range args {
		switch a.(type) {
		case pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryExecMode:
			continue
		}
		out = append(out, driver.NamedValue{Ordinal: len(out) + 1, Value: a})
	}
	return out
}
