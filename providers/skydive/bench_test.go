package skydive_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

// BenchmarkSync10k measures a full Sync of a 10,000-node graph (ports with
// OVS-like metadata, and their 10,000 edges): from the export's start
// (connect, build, encode, send) until the analyzer holds every element.
func BenchmarkSync10k(b *testing.B) {
	const n = 10000
	src := newMemSource()
	src.change(func(nodes map[string]topology.Metadata, links map[[3]string]bool) {
		for i := range n - 1 {
			name := fmt.Sprintf("port%05d", i)
			md := port(name, 1)
			md["Vlans"] = i % 4094
			md["ExtID"] = map[string]string{"container_id": "c" + name, "container_iface": "eth1", "wirekeeper.io/owner": "h1"}
			nodes[name] = md
			links[[3]string{"host", name, topology.Ownership}] = true
		}
	})
	a := skydivetest.Start(b, skydivetest.Options{})
	set := loadSet(b, exportDoc("sky", a.URL(), ""))
	var took []time.Duration
	for b.Loop() {
		a.Restart() // empty
		r := newExporter(b, "h1", skydive.Options{}, src)
		start := time.Now()
		r.apply(set, "sky")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := a.Wait(ctx, func(a *skydivetest.Analyzer) bool { nodes, edges := a.Counts(); return nodes == n && edges == n-1 })
		cancel()
		if err != nil {
			b.Fatalf("the analyzer never held the graph: %v", err)
		}
		took = append(took, time.Since(start))
		r.p.Close()
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(took, 0.5), "p50-ms")
	b.ReportMetric(percentile(took, 0.99), "max-ms")
}

// BenchmarkMirrorToAnalyzer measures a live change end to end with the
// real OVSDB provider: each iteration's revision replaces a Mirror; from
// SetRevision (the engine plans, the provider commits the OVSDB
// transaction, the monitor sees it, the export sends it) until the
// analyzer holds the new ovsmirror node. Then a mirror made by ovs-vsctl
// behind wirekeeper's back: from ovs-vsctl's return until the analyzer
// holds it.
func BenchmarkMirrorToAnalyzer(b *testing.B) {
	b.Run("ports=3", func(b *testing.B) { benchMirrorToAnalyzer(b, 0) })
	b.Run("ports=10k", func(b *testing.B) { benchMirrorToAnalyzer(b, 10000) })
}

// benchMirrorToAnalyzer runs with ports more ports on the bridge.
func benchMirrorToAnalyzer(b *testing.B, ports int) {
	a := skydivetest.Start(b, skydivetest.Options{})
	r := newOVSRig(b, false)
	origin := "wirekeeper." + r.node
	export := exportDoc("sky", a.URL(), "")
	r.apply(bridgeDoc("br0"), export)
	r.waitPhase("Bridge", "br0", reconciler.PhaseReady)
	names := []string{"p1", "p2"}
	for i := range ports {
		names = append(names, fmt.Sprintf("q%05d", i))
	}
	r.ovs.AddPorts(b, "br0", names)
	r.waitPhase("SkyDiveExport", "sky", reconciler.PhaseReady)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Wait(ctx, func(a *skydivetest.Analyzer) bool { n, _ := a.Counts(); return n >= 2*len(names) }); err != nil {
		b.Fatalf("the ports never reached the analyzer: %v", err)
	}
	wait := func(name string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The mirror's ID is known: a lookup, not a scan of the analyzer's graph.
		id := topology.ID(r.node, "ovsmirror", "ovs", "br0", name)
		if err := a.Wait(ctx, func(a *skydivetest.Analyzer) bool { n, ok := a.Node(id); return ok && n.Origin == origin }); err != nil {
			b.Fatalf("mirror %s never reached the analyzer", name)
		}
	}
	var spec, foreign []time.Duration
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("m%d", i)
		start := time.Now()
		r.apply(bridgeDoc("br0"), mirrorDoc(name, "br0", "selectSrcPorts: [p1], output: {port: p2}"), export)
		wait(name)
		spec = append(spec, time.Since(start))

		fname := fmt.Sprintf("f%d", i)
		r.ovs.Vsctl(b, "--", "--id=@p", "get", "Port", "p1", "--", "--id=@m", "create", "Mirror", "name="+fname,
			"select_dst_port=@p", "--", "add", "Bridge", "br0", "mirrors", "@m")
		start = time.Now()
		wait(fname)
		foreign = append(foreign, time.Since(start))
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(spec, 0.5), "spec-p50-ms")
	b.ReportMetric(percentile(spec, 0.99), "spec-p99-ms")
	b.ReportMetric(percentile(foreign, 0.5), "vsctl-p50-ms")
	b.ReportMetric(percentile(foreign, 0.99), "vsctl-p99-ms")
}
