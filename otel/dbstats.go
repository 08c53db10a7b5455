package otel

import (
	"context"
	"database/sql"
	"errors"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/securepg/securepg/internal/telemetry"
)

// ScopeName is the instrumentation scope of the pool metrics.
const ScopeName = "github.com/securepg/securepg/otel"

// Option configures RegisterDBStats.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	mp   metric.MeterProvider
	pool string
}

// WithMeterProvider sets the meter provider (default: the global one); nil
// is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithPoolName sets db.client.connection.pool.name. The default is
// host:port/database of the DSN's first host for a securepg *sql.DB, and
// "database/sql" otherwise.
func WithPoolName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.pool = name
		}
	})
}

// RegisterDBStats reports db's pool state from sql.DBStats, read at each
// collection:
//
//	db.client.connection.count{db.client.connection.state=idle|used}
//	db.client.connection.max                    (when SetMaxOpenConns is set)
//	securepg.pool.wait.count                    requests that waited for a connection
//	securepg.pool.wait.duration                 total time waited, in seconds
//	securepg.pool.closed{reason=max_idle|max_idle_time|max_lifetime}
//
// all with db.client.connection.pool.name. Unregister the returned
// registration when db is closed.
func RegisterDBStats(db *sql.DB, opts ...Option) (metric.Registration, error) {
	if db == nil {
		return nil, errors.New("securepg/otel: RegisterDBStats: nil *sql.DB")
	}
	c := config{pool: "database/sql"}
	if pn, ok := db.Driver().(interface{ PoolName() string }); ok && pn.PoolName() != "" {
		c.pool = pn.PoolName()
	}
	in, err := newPoolInstruments(c, opts)
	if err != nil {
		return nil, err
	}
	maxIdle, maxIdleTime, maxLifetime := in.closedBy("max_idle"), in.closedBy("max_idle_time"), in.closedBy("max_lifetime")
	return in.register(func(o metric.Observer) {
		s := db.Stats()
		o.ObserveInt64(in.count.Inst(), int64(s.Idle), in.idle)
		o.ObserveInt64(in.count.Inst(), int64(s.InUse), in.used)
		if s.MaxOpenConnections > 0 {
			o.ObserveInt64(in.maxConns.Inst(), int64(s.MaxOpenConnections), in.pool)
		}
		o.ObserveInt64(in.waits, s.WaitCount, in.pool)
		o.ObserveFloat64(in.waited, s.WaitDuration.Seconds(), in.pool)
		o.ObserveInt64(in.closed, s.MaxIdleClosed, maxIdle)
		o.ObserveInt64(in.closed, s.MaxIdleTimeClosed, maxIdleTime)
		o.ObserveInt64(in.closed, s.MaxLifetimeClosed, maxLifetime)
	})
}

// poolInstruments are the pool metrics RegisterDBStats and
// RegisterPoolStats report, with the pool's attribute sets.
type poolInstruments struct {
	m                metric.Meter
	count            dbconv.ClientConnectionCountObservable
	maxConns         dbconv.ClientConnectionMaxObservable
	waits            metric.Int64ObservableCounter
	waited           metric.Float64ObservableCounter
	closed           metric.Int64ObservableCounter
	name             attribute.KeyValue
	pool, idle, used metric.ObserveOption
}

// newPoolInstruments applies opts to c (which holds the pool's default
// name) and makes the instruments, described alike for both kinds of pool
// (an SDK warns of one name with two descriptions).
func newPoolInstruments(c config, opts []Option) (*poolInstruments, error) {
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.mp == nil {
		c.mp = gotel.GetMeterProvider()
	}
	in := &poolInstruments{m: c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(telemetry.Version), metric.WithSchemaURL(semconv.SchemaURL))}
	var err1, err2, err3, err4, err5 error
	in.count, err1 = dbconv.NewClientConnectionCountObservable(in.m)
	in.maxConns, err2 = dbconv.NewClientConnectionMaxObservable(in.m)
	in.waits, err3 = in.m.Int64ObservableCounter("securepg.pool.wait.count", metric.WithUnit("{request}"),
		metric.WithDescription("Requests for a connection that had to wait."))
	in.waited, err4 = in.m.Float64ObservableCounter("securepg.pool.wait.duration", metric.WithUnit("s"),
		metric.WithDescription("Total time spent waiting for a connection."))
	in.closed, err5 = in.m.Int64ObservableCounter("securepg.pool.closed", metric.WithUnit("{connection}"),
		metric.WithDescription("Connections closed by the pool's limits (idle count, idle time, lifetime)."))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	in.name = semconv.DBClientConnectionPoolName(c.pool)
	in.pool = metric.WithAttributeSet(attribute.NewSet(in.name))
	in.idle = metric.WithAttributeSet(attribute.NewSet(in.name, semconv.DBClientConnectionStateIdle))
	in.used = metric.WithAttributeSet(attribute.NewSet(in.name, semconv.DBClientConnectionStateUsed))
	return in, nil
}

func (in *poolInstruments) closedBy(reason string) metric.ObserveOption {
	return metric.WithAttributeSet(attribute.NewSet(in.name, attribute.String("securepg.pool.close_reason", reason)))
}

func (in *poolInstruments) register(observe func(metric.Observer)) (metric.Registration, error) {
	return in.m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		observe(o)
		return nil
	}, in.count.Inst(), in.maxConns.Inst(), in.waits, in.waited, in.closed)
}

// RegisterPoolStats reports a pgxpool's state from pgxpool.Stat, read at
// each collection, with RegisterDBStats's instruments (waits are acquires
// that waited; closed has no max_idle reason). The pool name defaults to
// "pgxpool". Unregister the returned registration when the pool is closed.
func RegisterPoolStats(pool *pgxpool.Pool, opts ...Option) (metric.Registration, error) {
	if pool == nil {
		return nil, errors.New("securepg/otel: RegisterPoolStats: nil *pgxpool.Pool")
	}
	in, err := newPoolInstruments(config{pool: "pgxpool"}, opts)
	if err != nil {
		return nil, err
	}
	maxIdleTime, maxLifetime := in.closedBy("max_idle_time"), in.closedBy("max_lifetime")
	return in.register(func(o metric.Observer) {
		s := pool.Stat()
		o.ObserveInt64(in.count.Inst(), int64(s.IdleConns()), in.idle)
		o.ObserveInt64(in.count.Inst(), int64(s.AcquiredConns()), in.used)
		o.ObserveInt64(in.maxConns.Inst(), int64(s.MaxConns()), in.pool)
		o.ObserveInt64(in.waits, s.EmptyAcquireCount(), in.pool)
		o.ObserveFloat64(in.waited, s.EmptyAcquireWaitTime().Seconds(), in.pool)
		o.ObserveInt64(in.closed, s.MaxIdleDestroyCount(), maxIdleTime)
		o.ObserveInt64(in.closed, s.MaxLifetimeDestroyCount(), maxLifetime)
	})
}
