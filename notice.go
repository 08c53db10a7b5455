package securepg

import (
	"context"
	"errors"
	"runtime"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/seam"
	"github.com/securepg/securepg/internal/telemetry"
)

// What package libpq reaches of a connector (seam.Connector): these
// methods are not part of securepg's API (the type is unexported).
var _ seam.Connector = (*connector)(nil)

// Backend is the connector's prepared backend.
func (c *connector) Backend() core.Backend { return c.backend }

// SetNotice sets (nil: removes) the notice handler.
func (c *connector) SetNotice(n *seam.Notice) { c.notice.Store(n) }

// Notice is the notice handler, or nil.
func (c *connector) Notice() *seam.Notice { return c.notice.Load() }

// ReportDial gives a lib/pq listener's dial the span, metrics and log
// lines of a connect when it has something to say.
func (c *connector) ReportDial(ctx context.Context, rec *core.Recorder, f core.Facts, err error) {
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
