package telemetry

import (
	"context"

	"github.com/jackc/pgx/v5"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ConnKey is where a pgx connection keeps its *Conn, in PgConn().CustomData().
const ConnKey = "securepg.telemetry"

// PgxTracer observes pgx connections through pgx's own tracer interfaces,
// as exaring/otelpgx does: the connection handed to database/sql stays
// pgx's *stdlib.Conn, and nothing wraps it.
type PgxTracer struct{}

var (
	_ pgx.QueryTracer    = PgxTracer{}
	_ pgx.PrepareTracer  = PgxTracer{}
	_ pgx.CopyFromTracer = PgxTracer{}
	_ pgx.BatchTracer    = PgxTracer{}
)

type (
	queryKey   struct{}
	prepareKey struct{}
	copyKey    struct{}
	batchKey   struct{}
)

func connOf(conn *pgx.Conn) *Conn {
	if conn == nil {
		return nil
	}
	c, _ := conn.PgConn().CustomData()[ConnKey].(*Conn)
	return c
}

// start observes an operation under key (nothing when c is nil); an
// inactive one hides an outer one's, so that its end does not end it.
func start(ctx context.Context, key any, c *Conn, kind, query string) context.Context {
	ctx, op := c.Start(ctx, kind, query)
	if !op.Active() {
		if ctx.Value(key) != nil {
			return context.WithValue(ctx, key, (*Op)(nil))
		}
		return ctx
	}
	return context.WithValue(ctx, key, &op)
}

func end(ctx context.Context, key any, err error) {
	if op, _ := ctx.Value(key).(*Op); op != nil {
		op.End(ctx, err)
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (PgxTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return start(ctx, queryKey{}, connOf(conn), KindQuery, data.SQL)
}

// TraceQueryEnd implements pgx.QueryTracer. pgx calls it when the rows are
// closed, so a query's span covers reading its rows.
func (PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	end(ctx, queryKey{}, data.Err)
}

// TracePrepareStart implements pgx.PrepareTracer. A prepare that pgx does
// inside a query (its statement cache) is part of that query's span.
func (PgxTracer) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	c := connOf(conn)
	if op, _ := ctx.Value(queryKey{}).(*Op); op != nil {
		c = nil // part of that query's span
	}
	return start(ctx, prepareKey{}, c, KindPrepare, data.SQL)
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (PgxTracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	end(ctx, prepareKey{}, data.Err)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (PgxTracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	return start(ctx, copyKey{}, connOf(conn), KindQuery, "COPY "+data.TableName.Sanitize()+" FROM STDIN")
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (PgxTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	end(ctx, copyKey{}, data.Err)
}

// TraceBatchStart implements pgx.BatchTracer: one span for the batch.
func (PgxTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	c := connOf(conn)
	ctx, op := c.Start(ctx, KindBatch, "")
	if !op.Active() {
		return ctx
	}
	if op.span != nil && data.Batch != nil {
		op.span.SetAttributes(semconv.DBOperationBatchSize(data.Batch.Len()))
	}
	return context.WithValue(ctx, batchKey{}, &op)
}

// TraceBatchQuery implements pgx.BatchTracer.
func (PgxTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (PgxTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, batchKey{}, data.Err)
}
