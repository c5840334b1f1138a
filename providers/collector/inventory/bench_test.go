package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
)

// BenchmarkSync10k measures, against the harness's MariaDB, the issue's
// target "inventory sync of 10,000 interfaces (first discovery, then a
// no-change pass): <= 1 s each", plus a pass that retires 1,000 of them.
// Each pass is reported as its own metric, in ms; run with
// -run '^$' -bench Sync10k -benchtime 1x.
func BenchmarkSync10k(b *testing.B) {
	const n, gone = 10_000, 1_000
	present := names("bench", n)
	var discover, noChange, retire time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newRig(b)
		ctx := context.Background()
		b.StartTimer()

		start := time.Now()
		_, res, err := r.store.Sync(ctx, present, t1, allMetrics)
		discover += time.Since(start)
		if err != nil || res.Added != n {
			b.Fatalf("first discovery: added %d, %v", res.Added, err)
		}

		start = time.Now()
		rows, res, err := r.store.Sync(ctx, present, t1+60_000, allMetrics)
		noChange += time.Since(start)
		if err != nil || res != (inventory.SyncResult{Active: n}) || len(rows) != n {
			b.Fatalf("no-change pass: %+v, %d rows, %v", res, len(rows), err)
		}

		start = time.Now()
		_, res, err = r.store.Sync(ctx, present[gone:], t1+120_000, allMetrics)
		retire += time.Since(start)
		if err != nil || res != (inventory.SyncResult{Retired: gone, Active: n - gone, RetiredOwed: gone}) {
			b.Fatalf("retiring %d: %+v, %v", gone, res, err)
		}
	}
	perOp := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	b.ReportMetric(perOp(discover), "discover-ms")
	b.ReportMetric(perOp(noChange), "nochange-ms")
	b.ReportMetric(perOp(retire), "retire1000-ms")
}
