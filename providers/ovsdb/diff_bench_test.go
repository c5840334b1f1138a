package ovsdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// BenchmarkDiff10k: `wirekeeper diff` of a node with 10,000 mirrors (and
// its manager) in sync, 32 to a bridge on 313 bridges (mirrorHost): a
// fresh provider connects, lists what it owns, observes every object and
// decides, as the command does. Target: under 1 s.
func BenchmarkDiff10k(b *testing.B) {
	const n = 10000
	_, docs := mirrorHost(b, n)
	set := loadSet(b, docs...)
	r := newRig(b)
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: "bench"}, set); err != nil {
		b.Fatal(err)
	}
	r.waitFor("10,000 mirrors Ready", func() bool {
		c := 0
		for _, ob := range r.e.Status().Objects {
			if ob.Phase == reconciler.PhaseReady {
				c++
			}
		}
		return c == n+1
	})
	b.ResetTimer()
	var took, connect time.Duration
	for range b.N {
		start := time.Now()
		// As `wirekeeper diff` connects for a node with no ContainerPort
		// and no SkyDiveExport: only the node's own interfaces.
		clients := ovs.New(ovs.Options{Node: node, OwnInterfacesOnly: true})
		p := ovsdb.New(ovsdb.Options{Node: node, OVS: clients})
		// Owned connects (what PlanLive's own call of it then finds done):
		// timed apart, it tells the connection and its initial monitor
		// from the observes and decisions.
		if _, err := p.Owned(context.Background(), set); err != nil {
			b.Fatal(err)
		}
		connect += time.Since(start)
		plan, err := reconciler.PlanLive(context.Background(), set, node, []reconciler.Provider{p}, "", 0.5)
		took += time.Since(start)
		p.Close() // and its connections
		if err != nil {
			b.Fatal(err)
		}
		if plan.HasChanges() || plan.Unchanged != n+1 {
			b.Fatalf("diff of a node in sync: %d changes, %d unchanged; want 0 and %d", len(plan.Changes), plan.Unchanged, n+1)
		}
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "diff-s")
	b.ReportMetric(connect.Seconds()/float64(b.N), "connect-s")
}
