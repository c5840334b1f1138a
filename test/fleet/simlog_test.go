package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
)

// simLog reads the simulated daemons' logs as an operator's log pipeline
// would: it counts messages (the status writer logs the attempts of each
// commit it lands, and each failed attempt at debug level) and keeps the
// first warnings and errors for a failure's report.
type simLog struct {
	mu       sync.Mutex
	counts   map[string]int
	attempts int // over the writes counted in counts["status committed"]
	problems []string
	// recent holds each node's last warnings and errors, at most
	// recentProblems, to explain a node that is late.
	recent map[string][]string
}

// recentProblems bounds the warnings and errors kept per node.
const recentProblems = 4

// maxProblems bounds the warnings and errors kept.
const maxProblems = 200

func newSimLog() *simLog { return &simLog{counts: map[string]int{}, recent: map[string][]string{}} }

// recentOf returns node's last warnings and errors.
func (l *simLog) recentOf(node string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recent[node]...)
}

func (l *simLog) logger(node string) *slog.Logger {
	return slog.New(&simHandler{log: l, node: node})
}

// simCounts is a snapshot of the counts; the difference of two is what
// happened in between.
type simCounts struct {
	messages map[string]int
	attempts int
}

func (l *simLog) snapshot() simCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return simCounts{messages: maps.Clone(l.counts), attempts: l.attempts}
}

func (c simCounts) since(before simCounts) simCounts {
	out := simCounts{messages: map[string]int{}, attempts: c.attempts - before.attempts}
	for m, n := range c.messages {
		if d := n - before.messages[m]; d != 0 {
			out.messages[m] = d
		}
	}
	return out
}

// report returns the warnings and errors kept, at most maxProblems.
func (l *simLog) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.problems, "\n")
}

type simHandler struct {
	log   *simLog
	node  string
	attrs []slog.Attr
}

func (h *simHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *simHandler) Handle(_ context.Context, r slog.Record) error {
	l := h.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case r.Message == "status committed" && a.Key == "attempts":
			l.attempts += int(a.Value.Int64())
		case strings.HasPrefix(r.Message, "cannot fetch the spec branch") && a.Key == "reason":
			l.counts["fetch failed: "+a.Value.String()]++
		}
		return true
	})
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %s: %s", r.Time.Format("15:04:05.000"), r.Level, h.node, r.Message)
		for _, a := range h.attrs {
			fmt.Fprintf(&b, " %s", a)
		}
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s", a)
			return true
		})
		if len(l.problems) < maxProblems {
			l.problems = append(l.problems, b.String())
		}
		l.recent[h.node] = append(l.recent[h.node], b.String())
		if len(l.recent[h.node]) > recentProblems {
			l.recent[h.node] = l.recent[h.node][1:]
		}
	}
	return nil
}

func (h *simHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &simHandler{log: h.log, node: h.node, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *simHandler) WithGroup(string) slog.Handler { return h }
