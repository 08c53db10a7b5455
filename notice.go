package securepg

import (
	"context"
	"errors"
	"runtime"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
	"github.com/securepg/securepg/internal/telemetry"
)

// connectorSeam is what sqlmocktest and libpq reach of a connector
// (seam.Connector), through Seam and a key only securepg's own packages
// hold.
type connectorSeam struct{ c *connector }

var (
	_ seam.Gate      = (*connector)(nil)
	_ seam.Connector = connectorSeam{}
)

// Seam is c's seam for the holder of seam.Token(), nil for anyone else.
func (c *connector) Seam(k *seam.Key) seam.Connector {
	if k != seam.Token() {
		return nil
	}
	return connectorSeam{c}
}

// Backend is the connector's prepared backend.
func (s connectorSeam) Backend() core.Backend { return s.c.backend }

// SetNotice sets (nil: removes) the notice handler.
func (s connectorSeam) SetNotice(n *seam.Notice) { s.c.notice.Store(n) }

// Notice is the notice handler, or nil.
func (s connectorSeam) Notice() *seam.Notice { return s.c.notice.Load() }

// ReportDial gives a lib/pq listener's dial the span, metrics and log
// lines of a connect when it has something to say.
func (s connectorSeam) ReportDial(ctx context.Context, rec *core.Recorder, f core.Facts, err error) {
	c := s.c
	if err == nil && len(rec.Rejected()) == 0 && len(rec.Audited()) == 0 {
		return
	}
	host, port := f.Host, int(f.Port)
	if last := rec.Last(); host == "" {
		host, port = last.Host, int(last.Port)
	}
	ctx, op := c.tel.ConnectStart(ctx, host, port)
	if rejected, live, err := c.outcome(ctx, op, rec, f, nil, err); err == nil {
		op.End(ctx, telemetry.ConnectResult{Facts: f, Rejected: rejected, Audited: live})
	}
}

// errNoPQ: the lib/pq backend was asked for without package libpq.
var errNoPQ = errors.New("securepg: the lib/pq backend is in package github.com/securepg/securepg/libpq: use libpq.Backend() or sql.Open(\"securepg-pq\") after importing it")

// errPQNoticeConnector replaces the panic lib/pq's NoticeHandlerConnector
// would cause on a securepg connection (it asserts lib/pq's own conn type).
var errPQNoticeConnector = errors.New("securepg: pq.ConnectorWithNoticeHandler cannot reach securepg's connections (lib/pq would panic); use libpq.ConnectorWithNoticeHandler, which takes the same handler")

// calledByPQNoticeConnector reports whether lib/pq's NoticeHandlerConnector
// is the caller (see errPQNoticeConnector).
func calledByPQNoticeConnector() bool {
	var pcs [4]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for f, more := frames.Next(); ; f, more = frames.Next() {
		if f.Function == "github.com/lib/pq.(*NoticeHandlerConnector).Connect" {
			return true
		}
		if !more {
			return false
		}
	}
}
