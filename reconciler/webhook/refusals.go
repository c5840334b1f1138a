package webhook

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLog writes the WARN lines about refused requests, at most one per
// status code and interval: anyone can send requests without a signature,
// and each would otherwise cost a log line. The line written after a quiet
// spell carries how many refusals of that status were left out since the
// previous one, so the log still tells the size of a flood.
type refusalLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu sync.Mutex
	// byStatus holds one entry per refused status code the handler
	// answers (400, 401, 405, 413), so it stays this small.
	byStatus map[int]*refusalWindow
}

type refusalWindow struct {
	logged     time.Time // when the last line for this status was written
	suppressed int       // refusals since then that were not logged
}

func newRefusalLog(log *slog.Logger, interval time.Duration, now func() time.Time) *refusalLog {
	if interval == 0 {
		interval = DefaultRefusedLogInterval
	}
	if now == nil {
		now = time.Now
	}
	return &refusalLog{log: log, interval: interval, now: now, byStatus: map[int]*refusalWindow{}}
}

// warn logs one refusal with attrs, or counts it when a line for the same
// status was written less than the interval ago.
func (l *refusalLog) warn(status int, attrs []any) {
	now := l.now()
	l.mu.Lock()
	w, seen := l.byStatus[status]
	if !seen {
		w = &refusalWindow{}
		l.byStatus[status] = w
	}
	if seen && now.Sub(w.logged) < l.interval {
		w.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := w.suppressed
	w.logged, w.suppressed = now, 0
	l.mu.Unlock()

	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	l.log.Warn("webhook request refused", attrs...)
}
