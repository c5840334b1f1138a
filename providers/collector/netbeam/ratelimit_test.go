package netbeam_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

// TestRateLimit checks the client never exceeds RateLimit, sequentially and
// across goroutines: with 50/s and a burst of 1, 20 requests need >= 380ms.
func TestRateLimit(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		name := map[bool]string{false: "sequential", true: "concurrent"}[parallel]
		t.Run(name, func(t *testing.T) {
			s, c := rig(t, func(o *netbeam.Options) { o.RateLimit, o.Burst = 50, 1 }, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
			start := time.Now()
			var wg sync.WaitGroup
			for range 20 {
				call := func() {
					if _, err := c.Points(context.Background(), res, "traffic", 0, 60_000); err != nil {
						t.Error(err)
					}
				}
				if parallel {
					wg.Add(1)
					go func() { defer wg.Done(); call() }()
				} else {
					call()
				}
			}
			wg.Wait()
			if d := time.Since(start); d < 380*time.Millisecond {
				t.Errorf("20 requests at 50/s with burst 1 took %s, want >= 380ms", d)
			}
			// Arrival times at the server, too: the 20th comes >= 380ms after the first.
			reqs := s.Requests()
			if len(reqs) != 20 {
				t.Fatalf("%d requests arrived, want 20", len(reqs))
			}
			first, last := reqs[0].Time, reqs[0].Time
			for _, r := range reqs {
				if r.Time.Before(first) {
					first = r.Time
				}
				if r.Time.After(last) {
					last = r.Time
				}
			}
			// Arrivals jitter with the machine's load; without the
			// limiter they come within a few milliseconds.
			if d := last.Sub(first); d < 300*time.Millisecond {
				t.Errorf("server saw 20 requests within %s, want about 380ms (at least 300ms)", d)
			}
		})
	}
}
