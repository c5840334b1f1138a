package reconciler_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// bigSet is one node with 10,000 objects: a manager, 100 bridges and 9,899
// mirrors spread over them.
func bigSet(b *testing.B) *spec.Set {
	var sb strings.Builder
	sb.WriteString("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs1}\nspec: {node: hv1, address: unix:/run/ovs.sock}\n")
	for i := range 100 {
		fmt.Fprintf(&sb, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: br%d}\nspec: {manager: ovs1}\n", i)
	}
	for i := range 9899 {
		fmt.Fprintf(&sb, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: m%d}\nspec: {manager: ovs1, bridge: br%d, selectSrcPorts: [p%d, q%d], output: {port: tap%d}}\n", i, i%100, i, i, i%7)
	}
	return mustSet(b, sb.String())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSteadyStatePass10k measures one full resync pass over 10,000
// converged objects with nothing to do: every object observed, planned and
// found in sync. Reported: CPU time per pass (user+system, all workers) and
// the process's resident memory. Targets: <= 100 ms CPU, <= 200 MB RSS.
func BenchmarkSteadyStatePass10k(b *testing.B) {
	set := bigSet(b)
	p := memory.New("test")
	e, err := reconciler.New(reconciler.Options{Node: "hv1", Providers: []reconciler.Provider{p}, Resync: time.Hour,
		MaxPruneFraction: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := e.SetRevision(ctx, reconciler.Revision{Hash: "r1"}, set); err != nil {
		b.Fatal(err)
	}
	waitIdle := func() {
		for !e.Idle() {
			time.Sleep(200 * time.Microsecond)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		waitIdle()
		c := e.Status().Counts()
		if c[reconciler.PhaseReady] == 10000 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not converged: %v", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	applied := len(p.Order())
	runtime.GC()

	b.ResetTimer()
	start := cpuTime()
	for range b.N {
		e.Resync()
		waitIdle()
	}
	cpu := cpuTime() - start
	b.StopTimer()
	if got := len(p.Order()); got != applied {
		b.Fatalf("a pass with nothing to do applied %d changes", got-applied)
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/pass")
	b.ReportMetric(testenv.ProcStatusMB(b, "VmRSS"), "rss-MB")
	b.ReportMetric(testenv.ProcStatusMB(b, "VmHWM"), "peak-rss-MB")
}
