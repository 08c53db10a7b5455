// Package libpq is securepg's lib/pq backend. Importing it registers the
// database/sql driver "securepg-pq": lib/pq (errors are *pq.Error) under
// the same policy as sql.Open("securepg", dsn). A program that does not
// import it does not link lib/pq.
//
//	import _ "github.com/securepg/securepg/libpq"
//
//	db, err := sql.Open("securepg-pq", os.Getenv("DATABASE_URL"))
//
// Backend gives securepg.NewConnector (and sqlmocktest) the lib/pq backend;
// NewListener and NewListenerDialer are lib/pq's listeners under the
// policy; ConnectorWithNoticeHandler is lib/pq's notice handler for a
// securepg connector.
package libpq

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/pqconn"
	"github.com/securepg/securepg/internal/seam"
)

// DriverName is the name this package registers with database/sql.
const DriverName = "securepg-pq"

func init() {
	sql.Register(DriverName, drv{})
}

// drv is the registered driver: securepg's connector with the lib/pq
// backend, the policy read from the environment at each sql.Open.
type drv struct{}

var (
	_ driver.Driver        = drv{}
	_ driver.DriverContext = drv{}
)

// Open connects once; database/sql uses OpenConnector instead.
func (d drv) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector is securepg.NewConnector(dsn, Backend()).
func (drv) OpenConnector(dsn string) (driver.Connector, error) {
	if err := core.PgxRegisteredName(dsn); err != nil {
		return nil, err
	}
	return securepg.NewConnector(dsn, backend{name: "the driver name " + DriverName})
}

// Backend is the option that gives securepg.NewConnector (and
// sqlmocktest.WithSecurepg) the lib/pq backend:
//
//	c, err := securepg.NewConnector(dsn, libpq.Backend())
//	db := sql.OpenDB(c)
func Backend() securepg.Option { return backend{name: "libpq.Backend"} }

// backend is the lib/pq backend as a securepg.Option (seam.Backend);
// securepg never applies its nil Option.
type backend struct {
	securepg.Option
	name string
}

var _ seam.Backend = backend{}

func (b backend) Name() string { return b.name }

func (backend) Prepare(dsn string, p core.Policy) (core.Backend, core.Plan, error) {
	return pqconn.Prepare(dsn, p)
}

// NewListener is pq.NewListener under the policy: the DSN is judged now
// (a *PolicyError before anything is dialed), and every connection the
// listener makes, reconnections included, is dialed and verified by
// securepg as sql.Open("securepg-pq", dsn)'s are, then handed to lib/pq.
// Credential providers and BeforeConnect hooks are not run: lib/pq
// reconnects with the DSN's, PGPASSWORD's or the passfile's password (the
// latter two read again, and judged, at each reconnect).
func NewListener(dsn string, minReconnect, maxReconnect time.Duration, cb pq.EventCallbackType, opts ...securepg.Option) (*Listener, error) {
	d, err := NewListenerDialer(dsn, opts...)
	if err != nil {
		return nil, err
	}
	return &Listener{pq.NewDialListener(d, d.d.Name, minReconnect, maxReconnect, cb)}, nil
}

// Listener is the lib/pq listener NewListener made: Listen, Unlisten,
// Notify, Ping, Close and the rest are lib/pq's. It prints as
// "libpq.Listener{}": lib/pq keeps the DSN it reconnects with in the
// *pq.Listener, and prints it, password included, with %v. Pass the
// embedded *pq.Listener where lib/pq's type is needed; do not print it.
type Listener struct {
	*pq.Listener
}

// String describes the listener without the DSN lib/pq keeps.
func (l *Listener) String() string { return "libpq.Listener{}" }

// GoString keeps %#v from printing the DSN.
func (l *Listener) GoString() string { return l.String() }

// ListenerDialer is a pq.Dialer that applies the policy, for
// pq.NewDialListener (and pq.DialOpen): pass it with its DSN.
type ListenerDialer struct {
	d *pqconn.ListenerDialer
}

var _ pq.Dialer = (*ListenerDialer)(nil)

// NewListenerDialer judges dsn and returns the dialer for lib/pq's
// listeners on it.
func NewListenerDialer(dsn string, opts ...securepg.Option) (*ListenerDialer, error) {
	conn, err := securepg.NewConnector(dsn, append(opts, backend{name: "a lib/pq listener"})...)
	if err != nil {
		return nil, err
	}
	c := seam.Of(conn)
	pc, ok := c.Backend().(*pqconn.PQConfig)
	if !ok {
		return nil, errNotPQ // sqlmocktest's, say
	}
	d, err := pc.Listener(context.Background(), c.ReportDial)
	if err != nil {
		return nil, err
	}
	return &ListenerDialer{d: d}, nil
}

var errNotPQ = errors.New("securepg: a lib/pq listener needs the lib/pq backend")

// DSN is the connection string to give lib/pq with the dialer (the dialer
// does TLS). It holds the password: do not log it.
func (d *ListenerDialer) DSN() string { return d.d.Name }

// Dial connects to the planned host at address, validated.
func (d *ListenerDialer) Dial(network, address string) (net.Conn, error) {
	return d.d.Dial(network, address)
}

// DialTimeout is Dial bounded by timeout.
func (d *ListenerDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	return d.d.DialTimeout(network, address, timeout)
}

// DialContext is Dial bounded by ctx.
func (d *ListenerDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.d.DialContext(ctx, network, address)
}

// String describes the dialer without its DSN.
func (d *ListenerDialer) String() string { return "libpq.ListenerDialer{}" }

// GoString keeps %#v from printing the DSN.
func (d *ListenerDialer) GoString() string { return d.String() }

// ConnectorWithNoticeHandler sets handler to hear the notices the server
// sends on c's connections, and returns c: pq.ConnectorWithNoticeHandler
// for a securepg connector (lib/pq's would panic), on both backends (with
// pgx, a *pq.Error with pgx's fields). A nil handler removes it. Any other
// connector is wrapped by pq.ConnectorWithNoticeHandler.
func ConnectorWithNoticeHandler(c driver.Connector, handler func(*pq.Error)) driver.Connector {
	sc := seam.Of(c)
	if sc == nil {
		return pq.ConnectorWithNoticeHandler(c, handler)
	}
	if handler == nil {
		sc.SetNotice(nil)
	} else {
		sc.SetNotice(&seam.Notice{Handler: handler,
			Pgx: func(n *pgconn.Notice) { handler(pqNotice(n)) },
			Set: func(conn driver.Conn) { pqconn.SetNoticeHandler(conn, handler) }})
	}
	return c
}

// ConnectorNoticeHandler returns the handler ConnectorWithNoticeHandler
// set on c, or nil.
func ConnectorNoticeHandler(c driver.Connector) func(*pq.Error) {
	sc := seam.Of(c)
	if sc == nil {
		return pq.ConnectorNoticeHandler(c)
	}
	if n := sc.Notice(); n != nil {
		h, _ := n.Handler.(func(*pq.Error))
		return h
	}
	return nil
}

// pqNotice is a pgx notice as lib/pq describes one.
func pqNotice(n *pgconn.Notice) *pq.Error {
	return &pq.Error{Severity: n.Severity, Code: pqerror.Code(n.Code), Message: n.Message, Detail: n.Detail, Hint: n.Hint,
		Position: itoaNonZero(n.Position), InternalPosition: itoaNonZero(n.InternalPosition), InternalQuery: n.InternalQuery,
		Where: n.Where, Schema: n.SchemaName, Table: n.TableName, Column: n.ColumnName, DataTypeName: n.DataTypeName,
		Constraint: n.ConstraintName, File: n.File, Line: itoaNonZero(n.Line), Routine: n.Routine}
}

func itoaNonZero(n int32) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(int(n))
}
