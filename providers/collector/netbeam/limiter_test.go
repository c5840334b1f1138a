package netbeam

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLimiterReserve(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, 2) // one token per 100ms
	l.now = func() time.Time { return now }
	l.last = now
	var got []time.Duration
	for range 4 {
		got = append(got, l.reserve())
	}
	now = now.Add(time.Second) // refills the debt of 2 and the burst of 2, not more
	for range 3 {
		got = append(got, l.reserve())
	}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 0, 0, 100 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestLimiterWait(t *testing.T) {
	l := newLimiter(1, 1) // the second token comes after 1s
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Errorf("took %s to see the deadline could not be met", d)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v, want Canceled", err)
	}
	if tokens := l.tokens; tokens < -0.5 {
		t.Errorf("cancelled reservations were not given back: %v tokens", tokens)
	}
	unlimited := newLimiter(math.Inf(1), 1)
	for range 1000 {
		if d := unlimited.reserve(); d != 0 {
			t.Fatalf("unlimited limiter made a caller wait %s", d)
		}
	}
}
