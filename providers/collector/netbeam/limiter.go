package netbeam

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// limiter is a token bucket: it holds at most burst tokens, refilled at rate
// per second, and each request takes one. A request that finds the bucket
// empty reserves a future token and waits for it, so concurrent callers are
// served in the order they arrived and the long-run rate never exceeds rate.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second; +Inf disables the limit
	burst  float64
	tokens float64 // may go negative: tokens reserved by waiting callers
	last   time.Time
	now    func() time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	l := &limiter{rate: rate, burst: float64(burst), tokens: float64(burst), now: time.Now}
	l.last = l.now()
	return l
}

// reserve takes a token and returns how long the caller must wait before
// using it (zero when one was available).
func (l *limiter) reserve() time.Duration {
	if math.IsInf(l.rate, 1) {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if elapsed := now.Sub(l.last).Seconds(); elapsed > 0 {
		l.tokens = math.Min(l.burst, l.tokens+elapsed*l.rate)
	}
	l.last = now
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-l.tokens / l.rate * float64(time.Second)))
}

// unreserve gives back a token taken by reserve and not used.
func (l *limiter) unreserve() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = math.Min(l.burst, l.tokens+1)
}

// wait blocks until the caller may send one request, or ctx ends. It fails
// at once when ctx's deadline comes before the caller's turn.
func (l *limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := l.reserve()
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		l.unreserve()
		return fmt.Errorf("netbeam: rate limit would delay the request by %s, past the context deadline: %w", d, context.DeadlineExceeded)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		l.unreserve()
		return ctx.Err()
	}
}
