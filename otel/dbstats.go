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

// WithMeterProvider sets the meter provider; the default is the global one.
// A nil provider is ignored.
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
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.mp == nil {
		c.mp = gotel.GetMeterProvider()
	}
	m := c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(telemetry.Version), metric.WithSchemaURL(semconv.SchemaURL))
	count, err1 := dbconv.NewClientConnectionCountObservable(m)
	maxConns, err2 := dbconv.NewClientConnectionMaxObservable(m)
	waits, err3 := m.Int64ObservableCounter("securepg.pool.wait.count", metric.WithUnit("{request}"),
		metric.WithDescription("Requests for a connection that had to wait (sql.DBStats.WaitCount)."))
	waited, err4 := m.Float64ObservableCounter("securepg.pool.wait.duration", metric.WithUnit("s"),
		metric.WithDescription("Total time spent waiting for a connection (sql.DBStats.WaitDuration)."))
	closed, err5 := m.Int64ObservableCounter("securepg.pool.closed", metric.WithUnit("{connection}"),
		metric.WithDescription("Connections closed by the pool's limits (sql.DBStats.MaxIdleClosed, MaxIdleTimeClosed, MaxLifetimeClosed)."))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	pool := semconv.DBClientConnectionPoolName(c.pool)
	poolSet := metric.WithAttributeSet(attribute.NewSet(pool))
	idle := metric.WithAttributeSet(attribute.NewSet(pool, semconv.DBClientConnectionStateIdle))
	used := metric.WithAttributeSet(attribute.NewSet(pool, semconv.DBClientConnectionStateUsed))
	closedBy := func(reason string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(pool, attribute.String("securepg.pool.close_reason", reason)))
	}
	maxIdle, maxIdleTime, maxLifetime := closedBy("max_idle"), closedBy("max_idle_time"), closedBy("max_lifetime")
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := db.Stats()
		o.ObserveInt64(count.Inst(), int64(s.Idle), idle)
		o.ObserveInt64(count.Inst(), int64(s.InUse), used)
		if s.MaxOpenConnections > 0 {
			o.ObserveInt64(maxConns.Inst(), int64(s.MaxOpenConnections), poolSet)
		}
		o.ObserveInt64(waits, s.WaitCount, poolSet)
		o.ObserveFloat64(waited, s.WaitDuration.Seconds(), poolSet)
		o.ObserveInt64(closed, s.MaxIdleClosed, maxIdle)
		o.ObserveInt64(closed, s.MaxIdleTimeClosed, maxIdleTime)
		o.ObserveInt64(closed, s.MaxLifetimeClosed, maxLifetime)
		return nil
	}, count.Inst(), maxConns.Inst(), waits, waited, closed)
}

// RegisterPoolStats reports a pgxpool's state from pgxpool.Stat, read at
// each collection, with the same instruments as RegisterDBStats:
//
//	db.client.connection.count{db.client.connection.state=idle|used}
//	db.client.connection.max
//	securepg.pool.wait.count                    acquires that waited for a connection
//	securepg.pool.wait.duration                 total time waited, in seconds
//	securepg.pool.closed{reason=max_idle_time|max_lifetime}
//
// all with db.client.connection.pool.name (default "pgxpool"; set it with
// WithPoolName). Unregister the returned registration when the pool is
// closed.
func RegisterPoolStats(pool *pgxpool.Pool, opts ...Option) (metric.Registration, error) {
	if pool == nil {
		return nil, errors.New("securepg/otel: RegisterPoolStats: nil *pgxpool.Pool")
	}
	c := config{pool: "pgxpool"}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.mp == nil {
		c.mp = gotel.GetMeterProvider()
	}
	m := c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(telemetry.Version), metric.WithSchemaURL(semconv.SchemaURL))
	count, err1 := dbconv.NewClientConnectionCountObservable(m)
	maxConns, err2 := dbconv.NewClientConnectionMaxObservable(m)
	waits, err3 := m.Int64ObservableCounter("securepg.pool.wait.count", metric.WithUnit("{request}"),
		metric.WithDescription("Acquires that had to wait for a connection (pgxpool.Stat.EmptyAcquireCount)."))
	waited, err4 := m.Float64ObservableCounter("securepg.pool.wait.duration", metric.WithUnit("s"),
		metric.WithDescription("Total time spent waiting for a connection (pgxpool.Stat.EmptyAcquireWaitTime)."))
	closed, err5 := m.Int64ObservableCounter("securepg.pool.closed", metric.WithUnit("{connection}"),
		metric.WithDescription("Connections closed by the pool's limits (pgxpool.Stat.MaxIdleDestroyCount, MaxLifetimeDestroyCount)."))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	name := semconv.DBClientConnectionPoolName(c.pool)
	poolSet := metric.WithAttributeSet(attribute.NewSet(name))
	idle := metric.WithAttributeSet(attribute.NewSet(name, semconv.DBClientConnectionStateIdle))
	used := metric.WithAttributeSet(attribute.NewSet(name, semconv.DBClientConnectionStateUsed))
	closedBy := func(reason string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(name, attribute.String("securepg.pool.close_reason", reason)))
	}
	maxIdleTime, maxLifetime := closedBy("max_idle_time"), closedBy("max_lifetime")
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := pool.Stat()
		o.ObserveInt64(count.Inst(), int64(s.IdleConns()), idle)
		o.ObserveInt64(count.Inst(), int64(s.AcquiredConns()), used)
		o.ObserveInt64(maxConns.Inst(), int64(s.MaxConns()), poolSet)
		o.ObserveInt64(waits, s.EmptyAcquireCount(), poolSet)
		o.ObserveFloat64(waited, s.EmptyAcquireWaitTime().Seconds(), poolSet)
		o.ObserveInt64(closed, s.MaxIdleDestroyCount(), maxIdleTime)
		o.ObserveInt64(closed, s.MaxLifetimeDestroyCount(), maxLifetime)
		return nil
	}, count.Inst(), maxConns.Inst(), waits, waited, closed)
}
