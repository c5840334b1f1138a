package collector_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector"
)

// BenchmarkBackfill1000 backfills 48 h of one metric for 1,000 interfaces
// (a point every 5 minutes: 576,000 messages) through the whole pipeline
// (Netbeam stand-in, inventory, RabbitMQ with confirms and a consumer) and
// reports the time, the messages per second, and the peak heap sampled
// every 50 ms during the run, to show memory stays bounded by the
// collector's concurrency rather than by the backlog. Nothing consumes the
// queue (RabbitMQ keeps the messages), so the process's memory is the
// collector's own.
//
//	go test -run '^$' -bench Backfill1000 -benchtime 1x ./providers/collector/
func BenchmarkBackfill1000(b *testing.B) {
	for range b.N {
		// Netbeam's rate limit (20 requests/s by default) would make this
		// a benchmark of the limiter; memory is what is measured.
		r := newRigFull(b, nil, "", func(o *collector.Options) { o.NetbeamRateLimit = 2000 }, false)
		r.nb.SetStep(5 * time.Minute)
		var ifaces []map[string]any
		for i := range 1000 {
			ifaces = append(ifaces, netbeamtest.Iface(fmt.Sprintf("dev%02d", i/50), fmt.Sprintf("ge-0/0/%d", i%50)))
		}
		r.nb.SetInterfaces(ifaces...)
		var peak atomic.Uint64
		stop := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		runtime.GC()
		b.ResetTimer()
		start := time.Now()
		r.apply(r.targetDoc("bf", "metrics: [traffic]", "", "lag: 0s, backfill: 48h, sliceMax: 6h"))
		r.waitFor("the backfill", 30*time.Minute, func() bool { st, _ := r.p.Status("bf"); return st.Passes >= 1 })
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		st, _ := r.p.Status("bf")
		if st.LastError != "" || st.Active != 1000 {
			b.Fatalf("status after the backfill: %+v", st)
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(float64(st.Confirmed), "messages")
		b.ReportMetric(float64(st.Confirmed)/took.Seconds(), "msgs/s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		b.ReportMetric(testenv.ProcStatusMB(b, "VmHWM"), "peak-rss-MB")
	}
}
