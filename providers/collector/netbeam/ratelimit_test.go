package netbeam_test

import (
	"context"
	"slices"
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
			// Arrival times at the server, too. Each request waits for a
			// token before it is sent, and with a burst of 1 the k-th token
			// (from 0) is there 20ms*k after the start: the k-th arrival
			// can come no sooner, however loaded the machine (load only
			// delays arrivals). Comparing first and last arrival instead
			// failed under -race: the first request's TLS handshake
			// delayed the first arrival and shrank the span.
			reqs := s.Requests()
			if len(reqs) != 20 {
				t.Fatalf("%d requests arrived, want 20", len(reqs))
			}
			arrivals := make([]time.Time, len(reqs))
			for i, r := range reqs {
				arrivals[i] = r.Time
			}
			slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
			for k, at := range arrivals {
				// 2ms for the limiter's and the clock's rounding.
				if earliest := time.Duration(k)*20*time.Millisecond - 2*time.Millisecond; at.Sub(start) < earliest {
					t.Errorf("arrival %d came %s after the start, before its token (%s)", k, at.Sub(start), earliest)
				}
			}
		})
	}
}
