package securepg

import (
	"database/sql/driver"
	"errors"
	"runtime"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// ConnectorWithNoticeHandler sets handler to hear the notices (RAISE
// NOTICE, warnings) the server sends on c's connections, and returns c: it
// is lib/pq's pq.ConnectorWithNoticeHandler for a securepg connector,
// whose connections lib/pq's version cannot reach (it panics on any
// connector but lib/pq's own). It works on both backends: with pgx, the
// notice arrives as a *pq.Error with pgx's fields. A nil handler removes
// it. A connector that is not securepg's is returned as lib/pq's
// pq.ConnectorWithNoticeHandler would wrap it.
func ConnectorWithNoticeHandler(c driver.Connector, handler func(*pq.Error)) driver.Connector {
	sc, ok := c.(*connector)
	if !ok {
		return pq.ConnectorWithNoticeHandler(c, handler)
	}
	if handler == nil {
		sc.notice.Store(nil)
	} else {
		sc.notice.Store(&handler)
	}
	return sc
}

// ConnectorNoticeHandler returns the handler ConnectorWithNoticeHandler
// set on c, or nil.
func ConnectorNoticeHandler(c driver.Connector) func(*pq.Error) {
	sc, ok := c.(*connector)
	if !ok {
		return pq.ConnectorNoticeHandler(c)
	}
	if h := sc.notice.Load(); h != nil {
		return *h
	}
	return nil
}

// setPQNoticeHandler sets h on a lib/pq connection (lib/pq's function
// panics on anything else: a stand-in's, for instance).
func setPQNoticeHandler(conn driver.Conn, h func(*pq.Error)) {
	defer func() { _ = recover() }()
	pq.SetNoticeHandler(conn, h)
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

// errPQNoticeConnector replaces the panic lib/pq's NoticeHandlerConnector
// would cause on a securepg connection (it asserts lib/pq's own conn type).
var errPQNoticeConnector = errors.New("securepg: pq.ConnectorWithNoticeHandler cannot reach securepg's connections (lib/pq would panic); use securepg.ConnectorWithNoticeHandler, which takes the same handler")

// calledByPQNoticeConnector reports whether lib/pq's NoticeHandlerConnector
// is the caller: it would set its handler on the connection by a type
// assertion that panics on anything but lib/pq's own conn.
func calledByPQNoticeConnector() bool {
	var pcs [4]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.Function == "github.com/lib/pq.(*NoticeHandlerConnector).Connect" {
			return true
		}
		if !more {
			return false
		}
	}
}
