package ovsdb_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/internal/ovsdbserver"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// Benchmarks run against a private ovsdb-server without ovs-vswitchd, so
// that they measure wirekeeper and the database, not the datapath; the peer
// (ovs-vsctl, as OVSMirrorWatch runs it) is measured against the same
// server in the same run, with --no-wait likewise. Run with `make bench`.

// mirrorEvents is a third OVSDB client that timestamps the moments mirrors
// named name are deleted and added, as the server publishes them.
type mirrorEvents struct {
	name          string
	added, delled chan time.Time
}

func watchMirror(b testing.TB, db, name string) *mirrorEvents {
	b.Helper()
	cl, err := ovsdbserver.Connect(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	w := &mirrorEvents{name: name, added: make(chan time.Time, 16), delled: make(chan time.Time, 16)}
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc: func(table string, m model.Model) {
			if mr, ok := m.(*vswitch.Mirror); ok && mr.Name == name {
				w.added <- time.Now()
			}
		},
		DeleteFunc: func(table string, m model.Model) {
			if mr, ok := m.(*vswitch.Mirror); ok && mr.Name == name {
				w.delled <- time.Now()
			}
		},
	})
	if _, err := cl.MonitorAll(context.Background()); err != nil {
		b.Fatal(err)
	}
	return w
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkDriftRepair: a foreign ovs-vsctl deletes a managed mirror (as
// OVSMirrorWatch's destroy does); the time from the server publishing the
// delete to it publishing the recreated mirror, seen by a third client.
// The peer is OVSMirrorWatch: a 5 s poll (`ovs-vsctl list Mirror`) that
// recreates a missing mirror with one ovs-vsctl call; its latency is the
// wait for the next poll (uniform over 0..5 s: 2.5 s at p50, 4.95 s at
// p99) plus those two calls, which are measured here.
func BenchmarkDriftRepair(b *testing.B) {
	o := ovstest.Start(b, ovstest.Options{})
	o.AddBridge(b, "br0")
	ovstest.AddPorts(b, o.DB, "br0", []string{"vm1", "vm2", "out"}, true)
	r := newRig(b)
	r.apply(managerDoc("ovs1", o.DB), mirrorDoc("span", "ovs1", "br0", "selectSrcPorts: [vm1], output: {port: out}"))
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)
	w := watchMirror(b, o.DB, "span")
	<-w.added // the monitor's initial row

	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		uuid := mirrorColumn(b, o.DB, "span", "_uuid")
		ovstest.Vsctl(b, o.DB, "--no-wait", "remove", "Bridge", "br0", "mirrors", uuid, "--", "destroy", "Mirror", uuid)
		del := <-w.delled
		select {
		case add := <-w.added:
			lat = append(lat, add.Sub(del))
		case <-time.After(10 * time.Second):
			b.Fatal("the mirror was not recreated within 10 s")
		}
	}
	b.StopTimer()
	p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)

	// The peer's work once its poll notices: one list, one create.
	var peer []time.Duration
	for i := range 20 {
		start := time.Now()
		if _, err := ovstest.MirrorWatchList(o.DB); err != nil {
			b.Fatal(err)
		}
		if err := ovstest.MirrorWatchCreateNoWait(o.DB, "br0", "peer"+strconv.Itoa(i), []string{"vm2"}, nil, "out"); err != nil {
			b.Fatal(err)
		}
		peer = append(peer, time.Since(start))
	}
	work := percentile(peer, 0.5)
	peerP50, peerP99 := 2500*time.Millisecond+work, 4950*time.Millisecond+percentile(peer, 0.99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(peerP50), "peer-p50-ms")
	b.ReportMetric(float64(peerP50)/float64(p50), "x-faster-p50")
	b.ReportMetric(float64(peerP99)/float64(p99), "x-faster-p99")
	b.Logf("%d repairs: p50 %.2f ms, p99 %.2f ms; OVSMirrorWatch (5 s poll + list + create at %.1f ms): p50 %.0f ms, p99 %.0f ms",
		len(lat), ms(p50), ms(p99), ms(work), ms(peerP50), ms(peerP99))
}

// BenchmarkConverge: from no mirror to n mirrors, 32 to a bridge
// (mirrorHost), through the engine and the provider; wall time
// until every mirror is Ready, transactions used, and the process's RSS
// holding them. The peer creates one mirror per ovs-vsctl invocation, as
// OVSMirrorWatch does: a sample of 200 is timed and extrapolated to n.
func BenchmarkConverge(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("mirrors=%d", n), func(b *testing.B) {
			for range b.N {
				convergeOnce(b, n)
			}
		})
	}
}

// mirrorHost starts an ovsdb-server holding ovstest's mirror host for n
// (ceil(n/32) bridges of 32 ports and an output port: ovs-vswitchd applies
// at most 32 mirrors per bridge, and more would be Degraded, never Ready)
// and returns it with the spec of the n mirrors (the manager first),
// mirror k selecting port k%32 of bridge k/32.
func mirrorHost(b *testing.B, n int) (*ovstest.OVS, []string) {
	const perBridge = ovstest.MirrorsPerBridge
	o := ovstest.Start(b, ovstest.Options{})
	docs := []string{managerDoc("ovs1", o.DB)}
	o.AddMirrorHost(b, n, false)
	for k := range n {
		i, j := k/perBridge, k%perBridge
		docs = append(docs, mirrorDoc(fmt.Sprintf("m%d", k), "ovs1", fmt.Sprintf("br%d", i),
			fmt.Sprintf("selectSrcPorts: [p%d-%d], output: {port: out%d}", i, j, i)))
	}
	return o, docs
}

func convergeOnce(b *testing.B, n int) {
	b.StopTimer()
	o, docs := mirrorHost(b, n)
	set := loadSet(b, docs...)
	// The daemon is up and connected before the revision with the mirrors
	// arrives: what is timed is the convergence, not the first connect.
	r := newRig(b)
	r.apply(docs[0])
	r.waitPhase("OVSManager", "ovs1", reconciler.PhaseReady)
	ready := func() bool {
		st := r.e.Status()
		c := 0
		for _, ob := range st.Objects {
			if ob.Kind == "Mirror" && ob.Phase == reconciler.PhaseReady {
				c++
			}
		}
		return c == n
	}
	b.StartTimer()
	start := time.Now()
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: "bench"}, set); err != nil {
		b.Fatal(err)
	}
	for !ready() {
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	if got := strings.Count(ovstest.Vsctl(b, o.DB, "--bare", "--columns=_uuid", "list", "Mirror"), "\n"); got < n {
		b.Fatalf("%d mirrors in the database, want %d", got, n)
	}
	st := r.p.Stats()
	// What the daemon holds once settled: the heap after a collection, and
	// the resident set once the runtime has returned its free pages.
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	debug.FreeOSMemory()
	rss := testenv.ProcStatusMB(b, "VmRSS")

	// The peer, against the same server: one invocation per mirror.
	const sample = 200
	peerStart := time.Now()
	for k := range sample {
		if err := ovstest.MirrorWatchCreateNoWait(o.DB, "br0", fmt.Sprintf("peer%d", k), []string{fmt.Sprintf("p0-%d", k%32)}, nil, "out0"); err != nil {
			b.Fatal(err)
		}
	}
	peer := time.Since(peerStart) / sample * time.Duration(n)
	// ovs-vsctl reads the whole database at every invocation, so the peer
	// is slower on this big one; its best case, on a database holding
	// almost nothing, is measured too for the conservative ratio.
	small := ovstest.Start(b, ovstest.Options{})
	small.AddBridge(b, "br0")
	ovstest.AddPorts(b, small.DB, "br0", []string{"p0", "out"}, true)
	smallStart := time.Now()
	for k := range sample {
		if err := ovstest.MirrorWatchCreateNoWait(small.DB, "br0", fmt.Sprintf("peer%d", k), []string{"p0"}, nil, "out"); err != nil {
			b.Fatal(err)
		}
	}
	peerSmall := time.Since(smallStart) / sample * time.Duration(n)
	b.ReportMetric(took.Seconds(), "converge-s")
	b.ReportMetric(float64(st.Transactions), "transactions")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(peer.Seconds(), "peer-s")
	b.ReportMetric(float64(peer)/float64(took), "x-faster")
	b.ReportMetric(peerSmall.Seconds(), "peer-small-db-s")
	b.ReportMetric(float64(peerSmall)/float64(took), "x-faster-small-db")
	b.Logf("%d mirrors: %.2f s in %d transactions (%d operations); RSS %.0f MB; peer (one ovs-vsctl per mirror, %d timed) %.1f s on this database (%.0fx), %.1f s on an almost empty one (%.0fx)",
		n, took.Seconds(), st.Transactions, st.Operations, rss, sample, peer.Seconds(), float64(peer)/float64(took), peerSmall.Seconds(), float64(peerSmall)/float64(took))
}
