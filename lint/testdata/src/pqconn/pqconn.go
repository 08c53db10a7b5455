// Package pqconn: lib/pq's connectors, listeners and dialers.
package pqconn

import (
	"database/sql"
	"net"
	"time"

	"github.com/securepg/securepg/libpq"

	"github.com/lib/pq"
	"github.com/securepg/securepg"
)

type netDialer struct{}

func (netDialer) Dial(network, address string) (net.Conn, error) { return nil, nil }

func (netDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	return nil, nil
}

func bypasses(dsn string) {
	pq.NewListener(dsn, time.Second, time.Minute, nil)                  // want `pq.NewListener bypasses the securepg policy: use libpq.NewListener\(dsn, ...\), or pq.NewDialListener with libpq.NewListenerDialer\(dsn\)`
	pq.NewListenerConn(dsn, nil)                                        // want `pq.NewListenerConn bypasses the securepg policy`
	pq.Open(dsn)                                                        // want `pq.Open bypasses the securepg policy: use securepg.NewConnector\(dsn, libpq.Backend\(\)\)`
	pq.DialOpen(netDialer{}, dsn)                                       // want `pq.DialOpen with a dialer that is not securepg's bypasses the securepg policy: give it libpq.NewListenerDialer`
	pq.NewDialListener(netDialer{}, dsn, time.Second, time.Minute, nil) // want `pq.NewDialListener with a dialer that is not securepg's bypasses`

	c, _ := pq.NewConnector(dsn) // want `pq.NewConnector bypasses the securepg policy: use securepg.NewConnector\(dsn, libpq.Backend\(\)\) with sql.OpenDB, or sql.Open\("securepg-pq", dsn\)`
	sql.OpenDB(c)

	cfg, _ := pq.NewConfig(dsn)
	c2, _ := pq.NewConnectorConfig(cfg) // want `pq.NewConnectorConfig bypasses`
	c2.Dialer(netDialer{})
	sql.OpenDB(pq.ConnectorWithNoticeHandler(c2, nil))

	sql.OpenDB(must(pq.NewConnector(dsn))) // want `pq.NewConnector bypasses`
}

func throughSecurepg(dsn string) error {
	d, err := libpq.NewListenerDialer(dsn)
	if err != nil {
		return err
	}
	l := pq.NewDialListener(d, dsn, time.Second, time.Minute, nil)
	_ = l
	pq.NewDialListener(must(libpq.NewListenerDialer(dsn)), dsn, time.Second, time.Minute, nil)
	var typed *libpq.ListenerDialer
	pq.DialOpen(typed, typed.DSN())
	libpq.NewListener(dsn, time.Second, time.Minute, nil)

	// A lib/pq connector that dials through securepg.
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return err
	}
	c.Dialer(d)
	sql.OpenDB(c)

	// securepg's connector with lib/pq's notice handler.
	sc, err := securepg.NewConnector(dsn)
	if err != nil {
		return err
	}
	sql.OpenDB(pq.ConnectorWithNoticeHandler(sc, nil))
	return nil
}

func must[T any](v T, err error) T { return v }
