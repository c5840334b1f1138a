package skydive_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	wkovs "github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// ovsRig runs the engine with the real OVSDB provider feeding the export,
// as the daemon does.
type ovsRig struct {
	*exporterRig
	ovs  *ovstest.OVS
	e    *reconciler.Engine
	rev  int
	stop func()
}

func newOVSRig(t testing.TB, vswitchd bool) *ovsRig {
	t.Helper()
	node := "hv-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	node = strings.TrimRight(node[:min(len(node), 40)], "-")
	return startOVSRig(t, ovstest.Start(t, ovstest.Options{Vswitchd: vswitchd}), node)
}

// startOVSRig starts the providers and the engine of node on ovs.
func startOVSRig(t testing.TB, ovs *ovstest.OVS, node string) *ovsRig {
	t.Helper()
	events := reconciler.NewEvents()
	op := ovsdb.New(ovsdb.Options{Node: node, Events: events})
	r := newExporter(t, node, skydive.Options{Events: events}, op)
	e, err := reconciler.New(reconciler.Options{Node: node, Providers: []reconciler.Provider{op, r.p}, Events: events, Workers: 4,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := sync.OnceFunc(func() { cancel(); <-done; r.p.Close(); op.Close() })
	t.Cleanup(stop)
	return &ovsRig{exporterRig: r, ovs: ovs, e: e, stop: stop}
}

// apply makes docs (plus the manager) the enforced revision.
func (r *ovsRig) apply(docs ...string) {
	r.t.Helper()
	r.rev++
	all := append([]string{fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs}\nspec: {node: %s, address: %q}", r.node, r.ovs.DB)}, docs...)
	r.set = loadSet(r.t, all...)
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: fmt.Sprintf("rev%04d", r.rev), Message: "wirekeeper: allow-prune"}, r.set); err != nil {
		r.t.Fatal(err)
	}
}

func (r *ovsRig) waitPhase(kind, name string, phase reconciler.Phase) {
	r.t.Helper()
	waitFor(r.t, kind+"/"+name+" "+string(phase), func() bool {
		o := r.e.Status().Object(reconciler.Ref{Kind: kind, Name: name})
		return o != nil && o.Phase == phase
	})
}

func bridgeDoc(name string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: %s}\nspec: {manager: ovs, bridge: %s, datapathType: netdev}", name, name)
}

func mirrorDoc(name, bridge, body string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s}\nspec: {manager: ovs, bridge: %s, %s}", name, bridge, body)
}

// heldNode returns the analyzer's node of type typ named name.
func heldNode(a *skydivetest.Analyzer, origin, typ, name string) (skydivetest.Node, bool) {
	nodes, _ := a.OriginGraph(origin)
	for _, n := range nodes {
		if n.Metadata["Type"] == typ && n.Metadata["Name"] == name {
			return n, true
		}
	}
	return skydivetest.Node{}, false
}

func TestExportFollowsRealOVS(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	r := newOVSRig(t, true)
	origin := "wirekeeper." + r.node
	export := exportDoc("sky", a.URL(), "")
	r.apply(bridgeDoc("br0"), export)
	r.waitPhase("Bridge", "br0", reconciler.PhaseReady)
	r.ovs.AddPorts(t, "br0", []string{"p1", "p2", "p3"})
	r.apply(bridgeDoc("br0"), mirrorDoc("m1", "br0", "selectSrcPorts: [p1], selectDstPorts: [p1, p2], output: {port: p3}"), export)
	r.waitPhase("Mirror", "m1", reconciler.PhaseReady)
	r.waitPhase("SkyDiveExport", "sky", reconciler.PhaseReady)
	r.waitHeld(a, nil)

	// The model, as SkyDive's own probe shapes it, plus the mirror.
	host := topology.ID(r.node, "host")
	br := wkovs.BridgeNodeID(r.node, "ovs", "br0")
	p1, p2, p3 := wkovs.PortNodeID(r.node, "ovs", "p1"), wkovs.PortNodeID(r.node, "ovs", "p2"), wkovs.PortNodeID(r.node, "ovs", "p3")
	m, ok := heldNode(a, origin, "ovsmirror", "m1")
	if !ok {
		t.Fatal("no ovsmirror m1 in the analyzer")
	}
	if wk, _ := m.Metadata["WireKeeper"].(map[string]any); wk["Object"] != "Mirror/m1" || wk["Phase"] != "Ready" {
		t.Errorf("mirror's WireKeeper metadata %v", m.Metadata["WireKeeper"])
	}
	_, edges := a.OriginGraph(origin)
	has := func(parent, child, rel, key, val string) bool {
		for _, e := range edges {
			if e.Parent == parent && e.Child == child && e.Metadata["RelationType"] == rel && (key == "" || e.Metadata[key] == val) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ what, parent, child, rel, key, val string }{
		{"host owns bridge", host, br, "ownership", "", ""},
		{"bridge owns port", br, p1, "ownership", "", ""},
		{"bridge layer2 port", br, p1, "layer2", "", ""},
		{"port layer2 interface", p1, wkovs.InterfaceNodeID(r.node, "ovs", "p1"), "layer2", "", ""},
		{"bridge owns mirror", br, m.ID, "ownership", "", ""},
		{"mirror src p1", m.ID, p1, "mirroring", "Direction", "src"},
		{"mirror dst p1", m.ID, p1, "mirroring", "Direction", "dst"},
		{"mirror dst p2", m.ID, p2, "mirroring", "Direction", "dst"},
		{"mirror output p3", m.ID, p3, "mirroring", "Direction", "output"},
	} {
		if !has(want.parent, want.child, want.rel, want.key, want.val) {
			t.Errorf("missing edge: %s", want.what)
		}
	}
	port, _ := heldNode(a, origin, "ovsport", "p1")
	if port.Metadata["UUID"] == "" || port.ID != p1 {
		t.Errorf("port p1 %+v", port)
	}
	// ovs-vswitchd fills in ofport and the MAC after the rows exist: updates.
	waitFor(t, "interface p1 with its OfPort and MAC", func() bool {
		iface, _ := heldNode(a, origin, "internal", "p1")
		return iface.Metadata["Driver"] == "openvswitch" && iface.Metadata["OfPort"] != nil && iface.Metadata["MAC"] != nil
	})

	// Live changes made behind wirekeeper's back reach the analyzer as they happen.
	r.ovs.Vsctl(t, "set", "Port", "p2", "tag=42")
	waitFor(t, "p2's tag", func() bool {
		n, _ := heldNode(a, origin, "ovsport", "p2")
		return fmt.Sprint(n.Metadata["Vlans"]) == "42"
	})
	r.ovs.Vsctl(t, "del-port", "br0", "p3") // the mirror's output: m1 goes Pending, then Drifted or repaired
	waitFor(t, "p3 gone", func() bool { _, ok := heldNode(a, origin, "ovsport", "p3"); return !ok })
	r.ovs.Vsctl(t, "--", "--id=@m", "create", "Mirror", "name=foreign", "select_all=true", "--", "add", "Bridge", "br0", "mirrors", "@m")
	waitFor(t, "foreign mirror", func() bool { _, ok := heldNode(a, origin, "ovsmirror", "foreign"); return ok })
	r.waitHeld(a, nil)
	if f, _ := heldNode(a, origin, "ovsmirror", "foreign"); f.Metadata["WireKeeper"] != nil {
		t.Errorf("a mirror wirekeeper does not manage carries %v", f.Metadata["WireKeeper"])
	}
	cleanLog(t, a)

	// A restarted daemon publishes the same IDs. DeleteOnDisconnect (the
	// default) removes the graph while it is down.
	before := held(t, a, origin)
	r.stop()
	waitFor(t, "graph removed on disconnect", func() bool { n, _ := a.OriginGraph(origin); return len(n) == 0 })
	r2 := startOVSRig(t, r.ovs, r.node)
	r2.apply(bridgeDoc("br0"), mirrorDoc("m1", "br0", "selectSrcPorts: [p1], selectDstPorts: [p1, p2], output: {port: p3}"), export)
	r2.waitPhase("Bridge", "br0", reconciler.PhaseReady)
	r2.waitHeld(a, nil)
	if after := held(t, a, origin); fmt.Sprint(ids(after)) != fmt.Sprint(ids(before)) {
		t.Errorf("IDs changed across a restart:\n%s", lineDiff(ids(before), ids(after)))
	}
	cleanLog(t, a)
}

// ids keeps the "node ID" / "edge ID parent>child" part of elements.
func ids(elems []string) []string {
	out := make([]string, len(elems))
	for i, e := range elems {
		f := strings.Fields(e)
		out[i] = strings.Join(f[:len(f)-1], " ")
		if f[0] == "node" {
			out[i] = f[0] + " " + f[1]
		}
	}
	return out
}

func TestRandomOVSChangesKeepTheAnalyzerEqualToTheLocalGraph(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	r := newOVSRig(t, false) // the rows alone: ovs-vsctl --no-wait
	r.apply(exportDoc("sky", a.URL(), ""))
	r.waitPhase("SkyDiveExport", "sky", reconciler.PhaseReady)
	rng := rand.New(rand.NewPCG(11, 3))
	bridges := map[string]bool{}
	ports := map[string]string{} // port -> bridge
	mirrors := 0
	pick := func(m map[string]bool) string {
		for k := range m {
			return k
		}
		return ""
	}
	for step := 0; step < 60; step++ {
		switch op := rng.IntN(7); {
		case op == 0 || len(bridges) == 0:
			b := fmt.Sprintf("rb%d", step)
			r.ovs.Vsctl(t, "add-br", b)
			bridges[b] = true
		case op == 1 && len(bridges) > 1:
			b := pick(bridges)
			r.ovs.Vsctl(t, "del-br", b)
			delete(bridges, b)
			for p, pb := range ports {
				if pb == b {
					delete(ports, p)
				}
			}
		case op == 2 || op == 3:
			b, p := pick(bridges), fmt.Sprintf("rp%d", step)
			r.ovs.Vsctl(t, "add-port", b, p, "--", "set", "Interface", p, "type=internal")
			ports[p] = b
		case op == 4 && len(ports) > 0:
			for p := range ports {
				r.ovs.Vsctl(t, "set", "Port", p, fmt.Sprintf("tag=%d", 1+rng.IntN(4000)))
				break
			}
		case op == 5 && len(ports) > 0:
			for p := range ports {
				r.ovs.Vsctl(t, "del-port", p)
				delete(ports, p)
				break
			}
		case op == 6 && len(ports) > 0:
			for p, b := range ports {
				mirrors++
				r.ovs.Vsctl(t, "--", "--id=@p", "get", "Port", p, "--", "--id=@m", "create", "Mirror", fmt.Sprintf("name=rm%d", mirrors),
					"select_src_port=@p", "output_port=@p", "--", "add", "Bridge", b, "mirrors", "@m")
				break
			}
		}
		if step%6 == 5 {
			r.waitHeld(a, nil)
		}
	}
	r.waitHeld(a, nil)
	cleanLog(t, a)
	if st, _ := r.p.Status("sky"); st.Syncs != 1 || st.Messages < 60 {
		t.Errorf("status %+v: want one Sync and the changes sent one by one", st)
	}
}
