package status

import (
	"context"
	"testing"
	"time"
)

// BenchmarkConcurrentWriters50 measures how long 50 writers (own caches,
// nodes node-00..node-49) take until each one's next status has landed on
// the same branch, all starting at once. lost-updates must be 0.
func BenchmarkConcurrentWriters50(b *testing.B) {
	const nodes = 50
	url, dir := newRemote(b)
	logs := newLogCounter()
	writers := newRaceWriters(b, url, nodes, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	lost, retries := 0, 0
	b.ResetTimer()
	for i := range b.N {
		res := raceWriters(b, ctx, dir, writers, 1, i+1, logs, b)
		for _, err := range res.errs {
			b.Errorf("Write failed: %v", err)
		}
		lost += res.lost
		retries += res.retries
	}
	b.ReportMetric(float64(lost), "lost-updates")
	b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
	b.ReportMetric(float64(logs.maxAttempts), "max-attempts")
	if lost != 0 {
		b.Errorf("%d updates lost", lost)
	}
}
