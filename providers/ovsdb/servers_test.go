package ovsdb_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestTwoManagersSideBySide: one daemon, two OVSDB servers (one over unix,
// one over tcp); each mirror lands on its own server and drift on one is
// repaired without disturbing the other.
func TestTwoManagersSideBySide(t *testing.T) {
	a, b := ovstest.Shared(t), ovstest.Shared2(t)
	br := shortName(t, "wk2")
	for _, o := range []*ovstest.OVS{a, b} {
		o.AddBridge(t, br)
		t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
		o.AddPorts(t, br, []string{br + "a", br + "o"})
	}
	r := newRig(t)
	r.apply(
		managerDoc("one", a.DB), managerDoc("two", b.TCP),
		mirrorDoc("on-one", "one", br, "selectSrcPorts: ["+br+"a], output: {port: "+br+"o}"),
		mirrorDoc("on-two", "two", br, "selectAll: true, output: {port: "+br+"o}"),
	)
	r.waitPhase("Mirror", "on-one", reconciler.PhaseReady)
	r.waitPhase("Mirror", "on-two", reconciler.PhaseReady)
	if got := mirrorsOn(t, a.DB, br); !slices.Equal(got, []string{"on-one"}) {
		t.Errorf("mirrors on the first server = %v", got)
	}
	if got := mirrorsOn(t, b.DB, br); !slices.Equal(got, []string{"on-two"}) {
		t.Errorf("mirrors on the second server = %v", got)
	}
	uuidOne := mirrorColumn(t, a.DB, "on-one", "_uuid")
	b.Vsctl(t, "set", "Mirror", "on-two", "select_all=false")
	r.waitFor("on-two repaired", func() bool { return mirrorColumn(t, b.DB, "on-two", "select_all") == "true" })
	if got := mirrorColumn(t, a.DB, "on-one", "_uuid"); got != uuidOne {
		t.Errorf("the mirror on the other server was replaced (%s -> %s)", uuidOne, got)
	}
}

// TestReconnectAndResyncAfterServerRestarts restarts a private ovsdb-server
// and ovs-vswitchd under the daemon: it reconnects, resyncs, and keeps
// repairing drift.
func TestReconnectAndResyncAfterServerRestarts(t *testing.T) {
	o := ovstest.Start(t, ovstest.Options{Vswitchd: true})
	o.AddBridge(t, "br0")
	o.AddPorts(t, "br0", []string{"vm1", "tap0"})
	r := newRig(t)
	r.apply(managerDoc("ovs1", o.TCP), mirrorDoc("span", "ovs1", "br0", "selectSrcPorts: [vm1], output: {port: tap0}"))
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)

	o.StopDB(t)
	r.waitFor("the manager reported down", func() bool {
		ph, msg := r.phase("OVSManager", "ovs1")
		return ph == reconciler.PhaseFailed && strings.Contains(msg, "not connected")
	})
	o.StartDB(t)
	r.waitPhase("OVSManager", "ovs1", reconciler.PhaseReady)
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)
	// The new monitor works: drift after the restart is repaired.
	uuid := mirrorColumn(t, o.DB, "span", "_uuid")
	o.Vsctl(t, "remove", "Bridge", "br0", "mirrors", uuid, "--", "destroy", "Mirror", uuid)
	r.waitFor("span recreated after the ovsdb-server restart", func() bool { return mirrorColumn(t, o.DB, "span", "_uuid") != "" })

	o.RestartVswitchd(t)
	uuid = mirrorColumn(t, o.DB, "span", "_uuid")
	o.Vsctl(t, "set", "Mirror", "span", "select_all=true")
	r.waitFor("span repaired after the ovs-vswitchd restart", func() bool { return mirrorColumn(t, o.DB, "span", "select_all") == "false" })
	if got := mirrorColumn(t, o.DB, "span", "_uuid"); got != uuid {
		t.Errorf("span was recreated (%s -> %s), want updated in place", uuid, got)
	}
	if n := strings.Count(o.Vsctl(t, "--bare", "--columns=name", "list", "Mirror"), "span"); n != 1 {
		t.Errorf("%d mirrors named span, want 1 (no duplicates after reconnects)", n)
	}
}

// TestMirrorCarriesTraffic: packets between two namespaces on the bridge
// reach the mirror's output port.
func TestMirrorCarriesTraffic(t *testing.T) {
	o := ovstest.Start(t, ovstest.Options{Vswitchd: true})
	o.AddBridge(t, "br0")
	h1 := ovstest.AddHost(t, o, "br0", "vm1", "10.77.0.1/24")
	h2 := ovstest.AddHost(t, o, "br0", "vm2", "10.77.0.2/24")
	sink := ovstest.AddSinkPort(t, o, "br0", "sink0")
	if err := ovstest.Ping(t, h1, "10.77.0.2", 3); err != nil {
		t.Fatalf("no traffic between the hosts before any mirror: %v", err)
	}
	before := ovstest.RxPackets(t, sink)
	if err := ovstest.Ping(t, h1, "10.77.0.2", 10); err != nil {
		t.Fatal(err)
	}
	// Without a mirror the sink sees at most flooded frames (ARP), not the pings.
	unmirrored := ovstest.RxPackets(t, sink) - before

	r := newRig(t)
	r.apply(managerDoc("ovs1", o.DB), mirrorDoc("span", "ovs1", "br0", "selectSrcPorts: [vm1], selectDstPorts: [vm1], output: {port: sink0}"))
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)
	// Any write without --no-wait returns once ovs-vswitchd has applied the database.
	o.Vsctl(t, "remove", "Open_vSwitch", ".", "external_ids", "wk-sync")
	o.PurgeFlows(t) // the datapath flows of the pings above predate the mirror
	before = ovstest.RxPackets(t, sink)
	if err := ovstest.Ping(t, h1, "10.77.0.2", 10); err != nil {
		t.Fatal(err)
	}
	mirrored := ovstest.RxPackets(t, sink) - before
	// 10 requests sent by vm1 and 10 replies to it: 20 frames mirrored.
	t.Logf("the sink received %d packets during 10 pings without the mirror, %d with it", unmirrored, mirrored)
	if mirrored < 20 {
		t.Errorf("the sink received %d packets during 10 pings through the mirror, want at least 20", mirrored)
	}
	if unmirrored > 2 {
		t.Errorf("the sink received %d packets during 10 pings without a mirror, want at most 2 (flooding)", unmirrored)
	}
	_ = h2
}

// TestFailedTransactionReportedPerObject: two bridges applied in one pass,
// one of which the server refuses (its internal port's name is taken): the
// other is made, and the refusal is reported on the one that caused it.
func TestFailedTransactionReportedPerObject(t *testing.T) {
	o := ovstest.Shared(t)
	taken, good, other := shortName(t, "wkt"), shortName(t, "wkg"), shortName(t, "wko")
	o.AddBridge(t, other)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", other) })
	o.AddPorts(t, other, []string{taken}) // a port named like the bridge to create
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", good) })
	r := newRig(t)
	r.apply(managerDoc("ovs1", o.DB), bridgeDoc("taken", "ovs1", taken, ""), bridgeDoc("good", "ovs1", good, ""))
	r.waitPhase("Bridge", "good", reconciler.PhaseReady)
	r.waitPhase("Bridge", "taken", reconciler.PhaseFailed, "constraint violation")
	if st := r.p.Stats(); st.Failed == 0 {
		t.Errorf("stats %+v: no failed transaction counted", st)
	}
	if out := o.Vsctl(t, "--if-exists", "get", "Bridge", taken, "name"); strings.TrimSpace(out) != "" {
		t.Errorf("bridge %s exists after its transaction failed", taken)
	}
}
