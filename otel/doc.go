// Package otel holds securepg's OpenTelemetry helpers that act on a
// *sql.DB. Spans and the per-connection metrics need no code: securepg
// reports them through the global providers (or WithTracerProvider and
// WithMeterProvider). Import it under a name of your own:
//
//	import securepgotel "github.com/securepg/securepg/otel"
//
//	reg, err := securepgotel.RegisterDBStats(db)
//	defer reg.Unregister()
package otel
