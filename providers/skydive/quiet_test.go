package skydive_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	wkovs "github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// vlanPorts gives br0 ports with each VLAN setting, and makes a second
// bridge by hand with a fail mode, protocols and other_config.
func vlanPorts(t *testing.T, r *ovsRig) {
	t.Helper()
	r.ovs.AddPorts(t, "br0", []string{"ptag", "ptrunk", "pnative", "pplain"})
	r.ovs.Vsctl(t, "set", "Port", "ptag", "tag=100")
	r.ovs.Vsctl(t, "set", "Port", "ptrunk", "trunks=10,20", "vlan_mode=trunk")
	r.ovs.Vsctl(t, "set", "Port", "pnative", "tag=5", "trunks=5,6", "vlan_mode=native-untagged")
	r.ovs.Vsctl(t, "add-br", "brhand", "--", "set", "Bridge", "brhand", "fail_mode=standalone", "protocols=OpenFlow10,OpenFlow13",
		"other_config:hwaddr=02:00:00:00:00:01")
}

// waitVLANPortsHeld waits until the analyzer holds the local graph with
// what vlanPorts made in it. The local graph lags ovs-vsctl (the OVSDB
// provider learns of each change from its monitor), so the analyzer
// holding the local graph says nothing by itself. brhand is made last, in
// one transaction, and the monitor delivers transactions in order: once
// the local graph has brhand, it has the rest.
func waitVLANPortsHeld(t *testing.T, r *ovsRig, a *skydivetest.Analyzer) {
	t.Helper()
	brhand := "node " + wkovs.BridgeNodeID(r.node, "ovs", "brhand") + " "
	waitFor(t, "brhand in the local graph", func() bool {
		return slices.ContainsFunc(r.local(nil), func(e string) bool { return strings.HasPrefix(e, brhand) })
	})
	r.waitHeld(a, nil)
}

func failModeBridgeDoc(name, mode string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: %s}\nspec: {manager: ovs, bridge: %s, datapathType: netdev, failMode: %s}", name, name, mode)
}

// The regression test of issue 16: against an analyzer that decodes Ovs
// as SkyDive does, a converged export used to find a difference at every
// read-back, resend the whole graph, record a drift and change its status
// (a status commit per interval, per node, forever). Now N intervals pass
// with none of that.
func TestConvergedExportWithVLANsAndFailModesStaysQuiet(t *testing.T) {
	const intervals = 6
	a := skydivetest.Start(t, skydivetest.Options{})
	tap := newAnalyzerTap(t, a)
	r := newOVSRig(t, false)
	origin := "wirekeeper." + r.node
	export := exportDoc("sky", tap.URL(), "verifyInterval: 1s")
	r.apply(failModeBridgeDoc("br0", "secure"), export)
	r.waitPhase("Bridge", "br0", reconciler.PhaseReady)
	vlanPorts(t, r)
	// Converged: every element there, and a read-back made of the whole graph.
	waitVLANPortsHeld(t, r, a)
	r.waitPhase("SkyDiveExport", "sky", reconciler.PhaseReady)
	r.checkQuiet(t, a, tap, origin, intervals)
}

// restNode reads a node from the analyzer's REST API.
func restNode(t *testing.T, a *skydivetest.Analyzer, id string) (map[string]any, bool) {
	t.Helper()
	resp, err := http.Get(a.HTTPURL() + "/api/node/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, false
	}
	var n struct{ Metadata map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		t.Fatalf("GET /api/node/%s: %s: %v", id, resp.Status, err)
	}
	return n.Metadata, true
}

func TestVLANsSetByVsctlAreInTheAnalyzersCopy(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	r := newOVSRig(t, false)
	r.apply(failModeBridgeDoc("br0", "secure"), exportDoc("sky", a.URL(), ""))
	r.waitPhase("Bridge", "br0", reconciler.PhaseReady)
	vlanPorts(t, r)
	waitVLANPortsHeld(t, r, a)
	field := func(md map[string]any, path string) string {
		var v any = md
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if v == nil {
			return "<none>"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for _, want := range []struct{ node, path, value string }{
		{wkovs.PortNodeID(r.node, "ovs", "ptag"), "Vlans", "100"},
		{wkovs.PortNodeID(r.node, "ovs", "ptrunk"), "Vlans", "<none>"},
		{wkovs.PortNodeID(r.node, "ovs", "ptrunk"), "WireKeeperOvs.Trunks", "[10,20]"},
		{wkovs.PortNodeID(r.node, "ovs", "ptrunk"), "WireKeeperOvs.VLANMode", `"trunk"`},
		{wkovs.PortNodeID(r.node, "ovs", "pnative"), "Vlans", "5"},
		{wkovs.PortNodeID(r.node, "ovs", "pnative"), "WireKeeperOvs.Trunks", "[5,6]"},
		{wkovs.PortNodeID(r.node, "ovs", "pnative"), "WireKeeperOvs.VLANMode", `"native-untagged"`},
		{wkovs.PortNodeID(r.node, "ovs", "pplain"), "WireKeeperOvs", "<none>"},
		{wkovs.PortNodeID(r.node, "ovs", "pplain"), "Ovs", "<none>"},
		{wkovs.BridgeNodeID(r.node, "ovs", "br0"), "WireKeeperOvs.FailMode", `"secure"`},
		{wkovs.BridgeNodeID(r.node, "ovs", "brhand"), "WireKeeperOvs.FailMode", `"standalone"`},
		{wkovs.BridgeNodeID(r.node, "ovs", "brhand"), "Ovs.Protocols", `["OpenFlow10","OpenFlow13"]`},
		{wkovs.BridgeNodeID(r.node, "ovs", "brhand"), "Ovs.OtherConfig", `{"hwaddr":"02:00:00:00:00:01"}`},
	} {
		md, ok := restNode(t, a, want.node)
		if !ok {
			t.Errorf("node %s not in the analyzer", want.node)
			continue
		}
		if got := field(md, want.path); got != want.value {
			t.Errorf("%s %s: %s = %s, want %s", md["Type"], md["Name"], want.path, got, want.value)
		}
	}
	// A tag changed by hand reaches the analyzer's copy.
	r.ovs.Vsctl(t, "set", "Port", "ptag", "tag=200")
	waitFor(t, "ptag's new tag in the analyzer", func() bool {
		md, _ := restNode(t, a, wkovs.PortNodeID(r.node, "ovs", "ptag"))
		return field(md, "Vlans") == "200"
	})
	r.ovs.Vsctl(t, "clear", "Port", "ptag", "tag")
	waitFor(t, "ptag untagged in the analyzer", func() bool {
		md, _ := restNode(t, a, wkovs.PortNodeID(r.node, "ovs", "ptag"))
		return md != nil && field(md, "Vlans") == "<none>"
	})
	r.waitHeld(a, nil)
	cleanLog(t, a)
}

func vlanPort(name string, tag int) topology.Metadata {
	md := port(name, 1)
	md["Vlans"] = tag
	return md
}

// An analyzer that keeps the graph differently from how it was published
// (here: one that drops Vlans) is resent the graph once; then the
// difference is reported once, not resent, and read back at a doubling
// interval, with the object's status left as it is.
func TestADifferenceThatSurvivesAResyncIsReportedOnceAndBacksOff(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	tap := newAnalyzerTap(t, a)
	tap.setRewrite(func(md map[string]any) { delete(md, "Vlans") })
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p1"], n["p2"] = vlanPort("p1", 100), vlanPort("p2", 200)
		l[[3]string{"host", "p1", topology.Ownership}] = true
		l[[3]string{"host", "p2", topology.Ownership}] = true
	})
	r := newEngineRig(t, "h1", skydive.Options{VerifyBackoffMax: 3 * time.Second}, src)
	origin := "wirekeeper.h1"
	ref := reconciler.Ref{Kind: skydive.Kind, Name: "sky"}
	r.apply(exportDoc("sky", tap.URL(), "verifyInterval: 1s"))

	// Found, repaired with one more Sync, found again: reported.
	st := r.waitStatusFor("sky", "the difference reported as persistent", 30*time.Second, func(s skydive.Status) bool { return s.Persistent != "" })
	if o := r.waitDegraded("sky", "does not keep the graph as published"); !strings.Contains(o.Message, "node ovsport p1: Vlans; node ovsport p2: Vlans") || o.Message != st.Persistent {
		t.Errorf("Degraded message %q, want it to name the nodes and the key", o.Message)
	}
	if st.Syncs != 2 || syncsAt(a, origin) != 2 {
		t.Errorf("%d Syncs sent, %d received; want 2: the first and one repair", st.Syncs, syncsAt(a, origin))
	}
	var drift []reconciler.DriftEvent
	for _, d := range r.e.Status().Drift {
		if d.Kind == ref.Kind && d.Name == ref.Name {
			drift = append(drift, d)
		}
	}
	if len(drift) != 1 || !drift[0].Repaired {
		t.Errorf("drift records %+v, want the one repaired", drift)
	}
	if st.VerifyEvery != 2*time.Second {
		t.Errorf("read-back interval %s once reported, want 2s (doubled)", st.VerifyEvery)
	}

	// Then it doubles up to the cap, and nothing else happens.
	watch := watchStatus(t, r.e)
	var every []time.Duration
	for len(every) < 3 {
		rb := st.ReadBacks
		st = r.waitStatusFor("sky", "the next read-back", 30*time.Second, func(s skydive.Status) bool { return s.ReadBacks > rb })
		every = append(every, st.VerifyEvery)
	}
	if fmt.Sprint(every) != "[3s 3s 3s]" {
		t.Errorf("read-back intervals %v, want [3s 3s 3s] (2s doubled, capped at 3s)", every)
	}
	if ch := watch.changes(t); len(ch) != 0 {
		t.Errorf("the status changed %d times for the same difference; last:\n%s", len(ch), ch[len(ch)-1])
	}
	if syncsAt(a, origin) != 2 {
		t.Errorf("%d Syncs, want still 2", syncsAt(a, origin))
	}
	if n := strings.Count(r.log.String(), "still does not hold the published graph after a resync"); n != 1 {
		t.Errorf("reported %d times in the log, want once", n)
	}

	// A change of the graph brings the interval back; the same difference
	// is still not resent.
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p3"] = port("p3", 1)
		l[[3]string{"host", "p3", topology.Ownership}] = true
	})
	r.waitStatusFor("sky", "the interval back to 1s", 10*time.Second, func(s skydive.Status) bool { return s.VerifyEvery == time.Second })
	rb := st.ReadBacks
	st = r.waitStatusFor("sky", "a read-back of the new graph", 10*time.Second, func(s skydive.Status) bool { return s.ReadBacks > rb })
	if st.Persistent == "" || st.Syncs != 2 {
		t.Errorf("after a change elsewhere: status %+v, want the same difference still reported, not resent", st)
	}

	// A real difference on top is still repaired, once.
	var p3 string
	for _, n := range a.Nodes() {
		if n.Metadata["Name"] == "p3" {
			p3 = n.ID
		}
	}
	deleteNode(t, a, p3)
	r.waitStatusFor("sky", "p3 sent again", 20*time.Second, func(s skydive.Status) bool { return s.Syncs == 3 })
	st = r.waitStatusFor("sky", "the old difference reported again", 20*time.Second, func(s skydive.Status) bool { return s.Persistent != "" })
	if _, ok := a.Node(p3); !ok || st.Syncs != 3 || syncsAt(a, origin) != 3 {
		t.Errorf("after p3 was deleted in the analyzer: p3 there %v, status %+v, %d Syncs received; want p3 back with one Sync", ok, st, syncsAt(a, origin))
	}
}

// An analyzer whose REST API cannot be reached (here: a proxy that
// answers 404) was resent the whole graph at every read-back; now the
// export is Degraded, once, and nothing is resent.
func TestAReadBackWithoutAnswerIsDegradedNotResynced(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	tap := newAnalyzerTap(t, a)
	tap.mu.Lock()
	tap.refuse = true
	tap.mu.Unlock()
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["p1"] = port("p1", 1) })
	r := newEngineRig(t, "h1", skydive.Options{}, src)
	r.apply(exportDoc("sky", tap.URL(), "verifyInterval: 1s"))
	if o := r.waitDegraded("sky", "cannot verify what the analyzer holds"); !strings.Contains(o.Message, "404") {
		t.Errorf("Degraded message %q, want it to say why the read-back failed", o.Message)
	}
	watch := watchStatus(t, r.e)
	start := tap.ReadBacks()
	r.waitStatusFor("sky", "3 more read-backs", 30*time.Second, func(skydive.Status) bool { return tap.ReadBacks() >= start+3 })
	if n := syncsAt(a, "wirekeeper.h1"); n != 1 {
		t.Errorf("%d Syncs, want 1: a failed read-back is nothing a Sync repairs", n)
	}
	if ch := watch.changes(t); len(ch) != 0 {
		t.Errorf("the status changed %d times for the same failure; last:\n%s", len(ch), ch[len(ch)-1])
	}
	if d := r.e.Status().Drift; len(d) != 0 {
		t.Errorf("drift records %+v, want none", d)
	}
}

// checkQuiet waits for a read-back of the whole graph of the export "sky",
// then for intervals more, and checks that the converged export stayed
// quiet through them: no Sync after the first, no drift record, no status
// change, the graph verified, and the analyzer holding exactly what was
// published.
func (r *ovsRig) checkQuiet(t *testing.T, a *skydivetest.Analyzer, tap *analyzerTap, origin string, intervals int) {
	t.Helper()
	rb := tap.ReadBacks()
	r.waitStatusFor("sky", "a read-back of the whole graph", 20*time.Second, func(skydive.Status) bool { return tap.ReadBacks() > rb+1 })
	syncs, drift := syncsAt(a, origin), len(r.e.Status().Drift)
	watch := watchStatus(t, r.e)
	start := tap.ReadBacks()
	r.waitStatusFor("sky", fmt.Sprintf("%d more read-backs", intervals), time.Duration(intervals)*10*time.Second, func(skydive.Status) bool {
		return tap.ReadBacks() >= start+intervals
	})

	if got := syncsAt(a, origin); got != syncs {
		t.Errorf("%d Syncs during %d read-backs of a converged graph, want 0", got-syncs, intervals)
	}
	if got := len(r.e.Status().Drift); got != drift {
		t.Errorf("%d drift records during %d read-backs of a converged graph, want 0", got-drift, intervals)
	}
	if ch := watch.changes(t); len(ch) != 0 {
		t.Errorf("the node status changed %d times during %d read-backs of a converged graph, want 0; last:\n%s", len(ch), intervals, ch[len(ch)-1])
	}
	if st, _ := r.p.Status("sky"); !st.VerifiedOK || st.Syncs != 1 {
		t.Errorf("status %+v: want the first Sync only and the graph verified", st)
	}
	r.waitHeld(a, nil) // what the analyzer keeps is exactly what was published
	cleanLog(t, a)
}
