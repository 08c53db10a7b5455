package telemetry

import (
	"context"
	"reflect"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The peer certificates' expiry, per server, for the time_to_expiry gauge.
var expiry = struct {
	mu       sync.Mutex
	notAfter map[[2]any]time.Time // {host, port} -> NotAfter of the last certificate seen
	meters   sync.Map             // meter provider -> struct{}
}{notAfter: map[[2]any]time.Time{}}

func noteExpiry(host string, port int, notAfter time.Time) {
	expiry.mu.Lock()
	expiry.notAfter[[2]any{host, port}] = notAfter
	expiry.mu.Unlock()
}

// ExpiryGaugeName is the observable gauge of seconds until the server
// certificates expire.
const ExpiryGaugeName = "securepg.tls.server.certificate.time_to_expiry"

// registerExpiry registers the expiry gauge once per meter provider.
func registerExpiry(mp metric.MeterProvider, m metric.Meter) {
	if t := reflect.TypeOf(mp); t == nil || !t.Comparable() {
		return
	}
	if _, loaded := expiry.meters.LoadOrStore(mp, struct{}{}); loaded {
		return
	}
	_, _ = m.Float64ObservableGauge(ExpiryGaugeName, metric.WithUnit("s"),
		metric.WithDescription("Seconds until the certificate the server last presented expires (negative: expired)."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			expiry.mu.Lock()
			defer expiry.mu.Unlock()
			now := time.Now()
			for k, na := range expiry.notAfter {
				attrs := []attribute.KeyValue{semconv.ServerAddress(k[0].(string))}
				if p := k[1].(int); p != 0 {
					attrs = append(attrs, semconv.ServerPort(p))
				}
				o.Observe(na.Sub(now).Seconds(), metric.WithAttributes(attrs...))
			}
			return nil
		}))
}
