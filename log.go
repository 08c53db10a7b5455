package securepg

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/securepg/securepg/internal/core"
	"github.com/securepg/securepg/internal/telemetry"
)

func (c *connector) log() *slog.Logger { return cmp.Or(c.logger, slog.Default()) }

// reportRefusal logs a refusal at error level and tells the OnViolation
// hooks. The log keeps one line per violation and host a minute.
func (c *connector) reportRefusal(ctx context.Context, v *core.Violation) {
	c.logViolation(ctx, slog.LevelError, "securepg: connection refused by policy", v)
	c.hooks.onViolation(ctx, v, telemetry.OutcomeRefused)
}

// reportAudit logs a violation that audit mode lets through at warn level
// and tells the OnViolation hooks.
func (c *connector) reportAudit(ctx context.Context, v *core.Violation) {
	c.logViolation(ctx, slog.LevelWarn, "securepg: policy violation allowed by audit mode", v)
	c.hooks.onViolation(ctx, v, telemetry.OutcomeAudited)
}

func (c *connector) logViolation(ctx context.Context, level slog.Level, msg string, v *core.Violation) {
	ok, suppressed := c.limit.allow(level, v, time.Now())
	if !ok {
		return
	}
	attrs := violationAttrs(v, c.policy)
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	c.log().LogAttrs(ctx, level, msg, attrs...)
}

// logInterval is how often the same violation of the same host is logged
// again; the line then says how many were not.
const logInterval = time.Minute

// logLimiter keeps one log line per (level, reason, host) per interval.
type logLimiter struct {
	mu   sync.Mutex
	seen map[logKey]*logState
}

type logKey struct {
	level        slog.Level
	reason, host string
}

type logState struct {
	last       time.Time
	suppressed int
}

func (l *logLimiter) allow(level slog.Level, v *core.Violation, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := logKey{level, v.Reason, v.Host}
	st, ok := l.seen[k]
	if !ok {
		if l.seen == nil || len(l.seen) >= 1024 {
			l.seen = map[logKey]*logState{}
		}
		l.seen[k] = &logState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < logInterval {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	return true, n
}

func violationAttrs(v *core.Violation, p core.Policy) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("reason", v.Reason),
		slog.String("host", core.SafeText(v.Host)),
		slog.String("got", core.SafeText(v.Got)),
		slog.String("want", core.SafeText(v.Want)),
		slog.String("mode", p.ModeName()),
		slog.String("driver", p.Driver),
	}
	if v.Err != nil {
		attrs = append(attrs, slog.String("cause", core.SafeText(v.Err.Error())))
	}
	return attrs
}
