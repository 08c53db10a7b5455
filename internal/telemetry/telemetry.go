// Package telemetry is securepg's OpenTelemetry instrumentation: one span
// per new connection (and per refusal), one span per logical operation,
// and the metrics of the db.client.* semantic conventions plus securepg's
// own. With no provider installed it costs two atomic loads per operation.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/securepg/securepg/internal/core"
)

// ScopeName is the instrumentation scope: securepg's import path.
const ScopeName = "github.com/securepg/securepg"

// Version is securepg's version, reported as the scope version.
const Version = "0.1.0"

// Attribute keys of securepg's own.
const (
	KeySSLMode         = attribute.Key("securepg.sslmode")
	KeySSLModeFrom     = attribute.Key("securepg.sslmode.from") // "policy": the configuration set none
	KeyMinSSLMode      = attribute.Key("securepg.policy.min_sslmode")
	KeyOutcome         = attribute.Key("securepg.policy.outcome")
	KeyReason          = attribute.Key("securepg.policy.reason")
	KeyVerification    = attribute.Key("securepg.tls.verification")
	KeyServerSSL       = attribute.Key("securepg.server.ssl")
	KeyServerVersion   = attribute.Key("securepg.server.tls.protocol.version")
	KeyServerCipher    = attribute.Key("securepg.server.tls.cipher")
	KeyServerViaPooler = attribute.Key("securepg.server.via_pooler") // the securepg.server.* view is a pooler's connection to the server
	KeyDriver          = attribute.Key("securepg.driver")
	KeyRefusedAttempts = attribute.Key("securepg.policy.refused_attempts")
	KeyAuthMethod      = attribute.Key("securepg.auth.method")
	KeyChannelBinding  = attribute.Key("securepg.auth.channel_binding")
	KeySuperuser       = attribute.Key("securepg.session.superuser")  // the session's role is a superuser (is_superuser)
	KeyConnectTimeout  = attribute.Key("securepg.connect.timeout")    // seconds each connect may take; 0: no bound
	KeyAppName         = attribute.Key("securepg.application_name")   // the application_name the server sees
	KeyKeyExchange     = attribute.Key("securepg.tls.key_exchange")   // "hybrid-pq" or "classical": the kind of tls.curve
	KeyLoopbackPlain   = attribute.Key("securepg.loopback_plaintext") // below the minimum sslmode, to a loopback address (SECUREPG_ALLOW_LOOPBACK_PLAINTEXT)
)

// Outcomes of the policy for a connection.
const (
	OutcomeAllowed = "allowed"
	OutcomeRefused = "refused"
	OutcomeAudited = "audited"
	OutcomeFailed  = "failed" // failed for a reason that is not the policy (network, authentication)
)

// Settings are the user's telemetry options.
type Settings struct {
	TracerProvider trace.TracerProvider // nil: the global provider, looked up as it changes
	MeterProvider  metric.MeterProvider // nil: the global provider
	QueryText      bool                 // record db.query.text, literals replaced
	// Filter, when set, decides per operation whether it gets a span;
	// pings and session resets are observed only when it accepts them.
	Filter func(ctx context.Context, op, query string) bool
	// OperationSpans, when it points to false, gives no operation a span
	// (connect spans and all metrics stay). nil: EnvOperationSpans decides
	// (ReadEnv), and the default is on.
	OperationSpans *bool
}

// EnvOperationSpans turns operation spans off without code ("false"): for
// an application whose database/sql wrapper (XSAM/otelsql) already makes
// one span per query. Connect spans and metrics stay.
const EnvOperationSpans = core.EnvOperationSpans

// ReadEnv fills in from the environment what no option set. An invalid
// value is an error that names the variable (never its value).
func (s *Settings) ReadEnv() error {
	if s.OperationSpans != nil {
		return nil
	}
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvOperationSpans))); v {
	case "":
		return nil
	case "true", "false":
		on := v == "true"
		s.OperationSpans = &on
		return nil
	}
	return fmt.Errorf(`securepg: invalid %s: want "true" or "false"`, EnvOperationSpans)
}

// T is the instrumentation of one connector.
type T struct {
	s        Settings
	connect  []trace.SpanStartOption // the connect span's start options (SetConnect)
	tracer   trace.Tracer
	globalTP trace.TracerProvider // the global delegate, when no provider was given
	tracesOn bool                 // false for an explicit no-op provider
	opSpans  bool                 // operations get spans (Settings.OperationSpans)

	opDuration  metric.Float64Histogram
	createTime  metric.Float64Histogram
	attempts    metric.Int64Counter
	violations  metric.Int64Counter
	tlsConns    metric.Int64Counter
	meterEnable bool

	driver     string
	minSSLMode string
	database   string

	queries sync.Map // query text -> *stmtInfo
	nq      atomic.Int32
	conns   sync.Map // "host:port" -> *Conn
}

// New builds the instrumentation for a connector.
func New(s Settings, driver, minSSLMode, database string) *T {
	t := &T{s: s, driver: driver, minSSLMode: minSSLMode, database: database,
		connect: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(semconv.DBSystemNamePostgreSQL)}}
	t.opSpans = s.OperationSpans == nil || *s.OperationSpans
	tp := s.TracerProvider
	if tp == nil {
		// The global stand-in forwards to a provider once one is installed.
		if tp = otel.GetTracerProvider(); reflect.TypeOf(tp).String() == "*global.tracerProvider" {
			t.globalTP = tp
		}
	}
	_, noopTracer := tp.(tracenoop.TracerProvider)
	t.tracesOn = !noopTracer
	t.tracer = tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL))

	mp := s.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	_, noopMeter := mp.(metricnoop.MeterProvider)
	t.meterEnable = !noopMeter
	m := mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(semconv.SchemaURL))
	// The bucket advice of the db.client semantic conventions.
	buckets := metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10)
	od, _ := dbconv.NewClientOperationDuration(m, buckets)
	ct, _ := dbconv.NewClientConnectionCreateTime(m, buckets)
	t.opDuration, t.createTime = od.Inst(), ct.Inst()
	t.attempts, _ = m.Int64Counter("securepg.connection.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("New physical connections attempted, by policy outcome."))
	t.violations, _ = m.Int64Counter("securepg.policy.violations", metric.WithUnit("{violation}"),
		metric.WithDescription("Policy violations, refused or audited."))
	t.tlsConns, _ = m.Int64Counter("securepg.tls.connections", metric.WithUnit("{connection}"),
		metric.WithDescription("New connections by negotiated TLS version."))
	registerExpiry(mp, m)
	return t
}

// tracing reports whether spans can be recorded: a provider is installed
// (not only the global stand-in).
func (t *T) tracing() bool {
	return t.tracesOn && (t.globalTP == nil || otel.GetTracerProvider() != t.globalTP)
}

func (t *T) metering(ctx context.Context) bool {
	return t.meterEnable && t.opDuration.Enabled(ctx)
}

// Conn holds the precomputed attributes of one connection.
type Conn struct {
	t       *T
	attrs   []attribute.KeyValue // db.system.name, db.namespace, server.address, server.port
	metrics sync.Map             // *stmtInfo -> *prepared
}

// NewConn returns the precomputed attributes of connections to host:port.
// Connections to the same server share them, and with them the options
// prepared per statement, so a new connection recomputes nothing.
func (t *T) NewConn(host string, port int) *Conn {
	key := net.JoinHostPort(host, strconv.Itoa(port))
	if c, ok := t.conns.Load(key); ok {
		return c.(*Conn)
	}
	c, _ := t.conns.LoadOrStore(key, &Conn{t: t, attrs: t.serverAttrs(host, port)})
	return c.(*Conn)
}

// serverAttrs are db.system.name, db.namespace, server.address and
// server.port, as far as they are known.
func (t *T) serverAttrs(host string, port int, extra ...attribute.KeyValue) []attribute.KeyValue {
	attrs := append([]attribute.KeyValue{semconv.DBSystemNamePostgreSQL}, extra...)
	if t.database != "" {
		attrs = append(attrs, semconv.DBNamespace(core.SafeText(t.database)))
	}
	if host != "" {
		attrs = append(attrs, semconv.ServerAddress(core.SafeText(host)))
	}
	if port != 0 {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	return attrs
}

// stmtInfo is what securepg reads once from a statement's text.
type stmtInfo struct {
	name      string // the span name: "SELECT users", or "postgresql"
	op        string
	target    string
	text      string // sanitized, for db.query.text
	spanAttrs []attribute.KeyValue
}

const maxCachedStatements = 4096

// The kinds of operation.
const (
	KindQuery    = "query"
	KindExec     = "exec"
	KindPrepare  = "prepare"
	KindBegin    = "begin"
	KindCommit   = "commit"
	KindRollback = "rollback"
	KindPing     = "ping"
	KindReset    = "reset_session"
	KindBatch    = "batch"
)

var fixedOps = map[string]string{
	KindPrepare: "PREPARE", KindBegin: "BEGIN", KindCommit: "COMMIT", KindRollback: "ROLLBACK",
	KindPing: "PING", KindReset: "RESET SESSION", KindBatch: "BATCH",
}

func (t *T) stmt(kind, query string) *stmtInfo {
	key := query
	if kind != KindQuery && kind != KindExec {
		key = kind + "\x00" + query
	}
	if v, ok := t.queries.Load(key); ok {
		return v.(*stmtInfo)
	}
	si := &stmtInfo{}
	si.op, si.target = Summarize(query)
	if op, ok := fixedOps[kind]; ok {
		si.op = op
	}
	si.name = "postgresql"
	if si.op != "" { // Summarize gives a target only with an operation
		si.name = si.op
		if si.target != "" {
			si.name += " " + si.target
		}
		si.spanAttrs = append(si.spanAttrs, semconv.DBOperationName(si.op), semconv.DBQuerySummary(si.name))
	}
	if si.target != "" {
		si.spanAttrs = append(si.spanAttrs, semconv.DBCollectionName(si.target))
	}
	if t.s.QueryText && query != "" {
		si.text = Sanitize(query)
		si.spanAttrs = append(si.spanAttrs, semconv.DBQueryText(si.text))
	}
	if t.nq.Load() < maxCachedStatements {
		if v, loaded := t.queries.LoadOrStore(key, si); loaded {
			return v.(*stmtInfo)
		}
		t.nq.Add(1)
	}
	return si
}

// prepared is what an operation of one statement on one connection needs,
// computed once: its span start options and its metric attributes.
type prepared struct {
	spanOpts   []trace.SpanStartOption
	recordOpts []metric.RecordOption
}

func (c *Conn) prepared(si *stmtInfo) *prepared {
	if v, ok := c.metrics.Load(si); ok {
		return v.(*prepared)
	}
	spanAttrs := append(append([]attribute.KeyValue(nil), c.attrs...), si.spanAttrs...)
	p := &prepared{
		spanOpts:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(spanAttrs...)},
		recordOpts: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(c.metricAttrs(si)...))},
	}
	c.metrics.Store(si, p)
	return p
}

// metricAttrs are an operation's metric attributes: the connection's, the
// operation and its target, and extra.
func (c *Conn) metricAttrs(si *stmtInfo, extra ...attribute.KeyValue) []attribute.KeyValue {
	attrs := append(append([]attribute.KeyValue(nil), c.attrs...), semconv.DBOperationName(si.op))
	if si.target != "" {
		attrs = append(attrs, semconv.DBCollectionName(si.target))
	}
	return append(attrs, extra...)
}

// ErrorAttrs describes err for a span or a metric: error.type, and the
// SQLSTATE as db.response.status_code when the server sent one.
func ErrorAttrs(err error) []attribute.KeyValue {
	if code := SQLState(err); code != "" {
		return []attribute.KeyValue{semconv.DBResponseStatusCode(code), semconv.ErrorTypeKey.String(code)}
	}
	return []attribute.KeyValue{semconv.ErrorType(err)}
}

// SQLState returns the SQLSTATE of a server error from pgx or lib/pq,
// escaped: the server wrote it, and it becomes an attribute.
func SQLState(err error) string {
	var s interface{ SQLState() string }
	if errors.As(err, &s) {
		return core.SafeText(s.SQLState())
	}
	return ""
}
