package collector_test

import (
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector"
)

// clock is a wall clock the test moves.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) jump(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// TestClockJumps moves the wall clock back 3 hours, then forward 6: a pass
// after the jump back fails nothing and moves no watermark backwards; after
// the jump forward every point of the gap is delivered, in slices.
func TestClockJumps(t *testing.T) {
	t.Parallel()
	c := &clock{}
	r := newRigWith(t, nil, "", func(o *collector.Options) { o.Now = c.Now })
	iface := netbeamtest.Iface("albq-asw1", "ge-0/0/1")
	r.nb.SetInterfaces(iface)
	res := iface["resource"].(string)
	r.apply(r.targetDoc("clk", "metrics: [traffic]", "", "interval: 1h, lag: 1m, backfill: 10m, sliceMax: 30m"))
	pass := func(n int) {
		t.Helper()
		r.waitFor("pass", 30*time.Second, func() bool { st, ok := r.p.Status("clk"); return ok && st.Passes >= n })
		if st, _ := r.p.Status("clk"); st.LastError != "" {
			t.Fatalf("pass %d failed: %s", n, st.LastError)
		}
	}
	pass(1)
	first, _ := r.p.Status("clk")
	wm := first.Watermarks["traffic"]

	c.jump(-3 * time.Hour)
	r.p.Trigger("clk")
	pass(2)
	if st, _ := r.p.Status("clk"); st.Watermarks["traffic"] < wm {
		t.Errorf("the watermark went back with the clock: %d -> %d", wm, st.Watermarks["traffic"])
	}

	c.jump(6 * time.Hour)
	r.p.Trigger("clk")
	pass(3)
	st, _ := r.p.Status("clk")
	if got := time.UnixMilli(st.Watermarks["traffic"]); got.Before(c.Now().Add(-2 * time.Minute)) {
		t.Errorf("after the jump forward the watermark is at %s, want about now - lag (%s)", got, c.Now().Add(-time.Minute))
	}
	want := r.expect(res, []string{"traffic"}, wm, st.Watermarks["traffic"])
	r.waitFor("the gap delivered", 30*time.Second, func() bool {
		got := r.stats()
		for id := range want {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	t.Logf("%d points of the 3 h gap delivered", len(want))
}
