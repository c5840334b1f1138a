package collector

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status is what a running collector reports.
type Status struct {
	// Active and Retired count the inventory's interfaces; RetiredOwed the
	// retired ones still collected up to when they left the API.
	Active, Retired, RetiredOwed int
	// Watermarks are, per metric, the oldest watermark over the interfaces
	// collected (ms); Lag how far it is behind now - lag.
	Watermarks map[string]int64
	// Published and Confirmed count the messages sent, and delivered
	// (acknowledged and routed to a queue) by the broker, since the
	// collector started; Returned those the broker returned because no
	// queue was bound for their routing key.
	Published, Confirmed, Returned uint64
	// LastError is the last pass's failure ("" after a clean pass).
	LastError   string
	LastErrorAt time.Time
	// Unroutable are the routing keys, sorted, of the messages the broker
	// returned in the last pass (no queue bound for them); nil when every
	// message was routed or rabbitmq.allowUnroutable is set.
	Unroutable []string
	// Paused is set while a watched queue is over maxQueueDepth.
	Paused      bool
	PausedQueue string
	PausedDepth int
	// Passes counts completed passes; LastPass is when the last ended.
	Passes   int
	LastPass time.Time
}

func (t *target) status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	st.Watermarks = maps.Clone(t.st.Watermarks)
	st.Unroutable = slices.Clone(t.st.Unroutable)
	return st
}

// details renders the status for the object's status file, refreshed at
// most every DetailsEvery once passes have run.
func (t *target) details() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	if t.shown != nil && now.Sub(t.shownAt) < t.opts.DetailsEvery {
		return t.shown
	}
	st := t.st
	if st.Passes == 0 {
		return nil
	}
	out := []string{
		fmt.Sprintf("interfaces: %d active, %d retired (%d still collected)", st.Active, st.Retired, st.RetiredOwed),
		fmt.Sprintf("messages: %d published, %d confirmed", st.Published, st.Confirmed),
	}
	if st.Returned > 0 {
		out[1] += fmt.Sprintf(", %d returned (no queue bound)", st.Returned)
	}
	for _, m := range slices.Sorted(maps.Keys(st.Watermarks)) {
		wm := time.UnixMilli(st.Watermarks[m]).UTC()
		behind := now.Sub(wm) - t.sp.Lag.D()
		out = append(out, fmt.Sprintf("%s: collected to %s (%s behind now - lag)", m, wm.Format(time.RFC3339), behind.Round(time.Second)))
	}
	t.shown, t.shownAt = out, now
	return out
}

// update changes the status; a change of what the object's phase shows
// (a failure, a pause, a missing route) is told to the provider.
func (t *target) update(f func(st *Status)) {
	t.mu.Lock()
	shown := func() [4]string {
		return [4]string{t.st.LastError, strconv.FormatBool(t.st.Paused), t.st.PausedQueue, strings.Join(t.st.Unroutable, "\n")}
	}
	before := shown()
	f(&t.st)
	after := shown()
	t.mu.Unlock()
	if before != after {
		t.changed()
	}
}
