package telemetry

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/securepg/securepg/internal/core"
)

// ConnectSpanName names the span of a new physical connection.
const ConnectSpanName = "securepg.connect"

// RefusedAttemptEvent is the connect span's event for an attempt the
// policy refused (a host or address tried before the one that answered).
const RefusedAttemptEvent = "securepg.attempt.refused"

// ConnectOp is a connection attempt in flight.
type ConnectOp struct {
	t     *T
	span  trace.Span
	start time.Time
	host  string
	port  int
}

// ConnectResult is how an attempt ended.
type ConnectResult struct {
	Facts     core.Facts
	Err       error
	Violation *core.Violation   // the refusal, when the policy refused
	Rejected  []*core.Violation // other attempts the policy refused (hosts or addresses tried before)
	Audited   []*core.Violation // violations let through by audit mode
}

// ConnectStart begins observing a new physical connection to the DSN's
// first host (the attributes are corrected to the host that answers).
func (t *T) ConnectStart(ctx context.Context, host string, port int) (context.Context, ConnectOp) {
	o := ConnectOp{t: t, start: time.Now(), host: host, port: port}
	if t.tracing() {
		ctx, o.span = t.tracer.Start(ctx, ConnectSpanName, t.connect...)
	}
	return ctx, o
}

// SetConnect gives every connect span what the configuration says about
// connecting: the bound on each connect and the application_name the
// server sees. Call it once, before the first connect.
func (t *T) SetConnect(timeout time.Duration, appName string) {
	attrs := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, KeyConnectTimeout.Float64(timeout.Seconds())}
	if appName != "" {
		// From the DSN, PGAPPNAME or a service file: escaped like every
		// string a file or a peer controls.
		attrs = append(attrs, KeyAppName.String(core.SafeText(appName)))
	}
	t.connect = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}
}

// End records the attempt's span and metrics.
func (o ConnectOp) End(ctx context.Context, r ConnectResult) {
	t := o.t
	outcome := OutcomeAllowed
	reason := ""
	switch {
	case r.Violation != nil:
		outcome, reason = OutcomeRefused, r.Violation.Reason
	case r.Err != nil:
		outcome = OutcomeFailed
	case len(r.Audited) > 0:
		outcome, reason = OutcomeAudited, r.Audited[0].Reason
	}
	host, port := o.host, o.port
	if r.Facts.Host != "" {
		host, port = r.Facts.Host, int(r.Facts.Port)
	}
	if o.span != nil {
		attrs := append(t.serverAttrs(host, port, KeyMinSSLMode.String(t.minSSLMode), KeyDriver.String(t.driver)), KeyOutcome.String(outcome))
		if reason != "" {
			attrs = append(attrs, KeyReason.String(reason))
		}
		if r.Err == nil {
			attrs = append(attrs, FactsAttrs(r.Facts)...)
		}
		if len(r.Rejected) > 0 {
			attrs = append(attrs, KeyRefusedAttempts.Int(len(r.Rejected)))
		}
		o.span.SetAttributes(attrs...)
		for _, v := range r.Rejected {
			o.span.AddEvent(RefusedAttemptEvent, trace.WithAttributes(KeyReason.String(v.Reason),
				semconv.ServerAddress(core.SafeText(v.Host))))
		}
		if r.Err != nil {
			et := reason
			if et == "" {
				ea := ErrorAttrs(r.Err)
				et = ea[len(ea)-1].Value.AsString()
			}
			o.span.SetAttributes(semconv.ErrorTypeKey.String(et))
			if code := SQLState(r.Err); code != "" {
				o.span.SetAttributes(semconv.DBResponseStatusCode(code))
			}
			o.span.SetStatus(codes.Error, et)
		}
		o.span.End()
	}
	if !t.meterEnable {
		return
	}
	t.attempts.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String(outcome), KeyDriver.String(t.driver)))
	if r.Violation != nil {
		t.violations.Add(ctx, 1, metric.WithAttributes(KeyReason.String(r.Violation.Reason), KeyOutcome.String(OutcomeRefused)))
	}
	for _, v := range r.Rejected {
		t.violations.Add(ctx, 1, metric.WithAttributes(KeyReason.String(v.Reason), KeyOutcome.String(OutcomeRefused)))
	}
	for _, v := range r.Audited {
		t.violations.Add(ctx, 1, metric.WithAttributes(KeyReason.String(v.Reason), KeyOutcome.String(OutcomeAudited)))
	}
	if r.Err != nil {
		return
	}
	t.createTime.Record(ctx, time.Since(o.start).Seconds(), metric.WithAttributes(semconv.DBClientConnectionPoolName(PoolName(host, port, t.database))))
	if r.Facts.TLS {
		// tls.curve: the group's name, "" when not known.
		t.tlsConns.Add(ctx, 1, metric.WithAttributes(semconv.TLSProtocolVersion(tlsVersion(r.Facts.Version)), semconv.TLSCurve(core.GroupName(r.Facts.CurveID))))
		if len(r.Facts.PeerCertificates) > 0 {
			noteExpiry(host, port, r.Facts.PeerCertificates[0].NotAfter)
		}
	}
}

// Refused records a refusal at connector creation: nothing was dialed.
func (t *T) Refused(ctx context.Context, v *core.Violation) {
	host, port := v.Host, 0
	if h, p, err := net.SplitHostPort(v.Host); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	_, o := t.ConnectStart(ctx, host, port)
	o.End(ctx, ConnectResult{Err: v, Violation: v})
}

// FactsAttrs describes a validated connection's security.
func FactsAttrs(f core.Facts) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.TLSEstablished(f.TLS)}
	if f.Mode != core.ModeUnknown {
		attrs = append(attrs, KeySSLMode.String(f.Mode.String()))
		if f.ModeFrom != "" {
			attrs = append(attrs, KeySSLModeFrom.String(f.ModeFrom))
		}
	}
	if f.Network == "unix" {
		attrs = append(attrs, semconv.NetworkTransportUnix)
	}
	if f.Auth != "" {
		attrs = append(attrs, KeyAuthMethod.String(f.Auth), KeyChannelBinding.Bool(f.ChannelBinding))
	}
	if f.Superuser != "" {
		attrs = append(attrs, KeySuperuser.Bool(f.Superuser == "on"))
	}
	if f.LoopbackPlaintext {
		attrs = append(attrs, KeyLoopbackPlain.Bool(true))
	}
	if f.TLS {
		attrs = append(attrs,
			semconv.TLSProtocolNameTLS,
			semconv.TLSProtocolVersion(tlsVersion(f.Version)),
			semconv.TLSCipher(tls.CipherSuiteName(f.CipherSuite)),
			KeyVerification.String(f.Verify.String()),
		)
		if g := core.GroupName(f.CurveID); g != "" {
			attrs = append(attrs, semconv.TLSCurve(g), KeyKeyExchange.String(core.GroupKind(f.CurveID)))
		}
	}
	if len(f.PeerCertificates) > 0 {
		leaf := f.PeerCertificates[0]
		sum := sha256.Sum256(leaf.Raw)
		attrs = append(attrs,
			semconv.TLSServerSubject(core.SafeText(leaf.Subject.String())),
			semconv.TLSServerIssuer(core.SafeText(leaf.Issuer.String())),
			semconv.TLSServerNotAfter(leaf.NotAfter.UTC().Format("2006-01-02T15:04:05.000Z")),
			semconv.TLSServerHashSha256(strings.ToUpper(hex.EncodeToString(sum[:]))),
		)
	}
	if f.Server != nil {
		attrs = append(attrs, KeyServerSSL.Bool(f.Server.SSL), KeyServerViaPooler.Bool(f.Server.ViaPooler))
		if f.Server.Version != "" {
			attrs = append(attrs, KeyServerVersion.String(core.SafeText(strings.TrimPrefix(f.Server.Version, "TLSv"))))
		}
		if f.Server.Cipher != "" {
			attrs = append(attrs, KeyServerCipher.String(core.SafeText(f.Server.Cipher)))
		}
	}
	return attrs
}

// tlsVersion spells a TLS version as semconv does: "1.3".
func tlsVersion(v uint16) string {
	return strings.TrimPrefix(core.TLSVersionName(v), "TLSv")
}

// PoolName is the default db.client.connection.pool.name: host:port/db.
func PoolName(host string, port int, db string) string {
	if port != 0 {
		host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return host + "/" + db
}
