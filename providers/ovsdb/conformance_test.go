package ovsdb_test

import (
	"context"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/conformance"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestConformance runs the shared provider contract against the harness's
// real ovsdb-server and ovs-vswitchd.
func TestConformance(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkc")   // made by the Bridge case
	host := shortName(t, "wkh") // made by hand, for the Mirror case
	p1, p2, out := host+"a", host+"b", host+"o"
	set := loadSet(t,
		managerDoc("ovs1", o.DB),
		bridgeDoc("conf-br", "ovs1", br, ", externalIds: {team: netops}"),
		mirrorDoc("conf-mirror", "ovs1", host, "selectSrcPorts: ["+p1+"], output: {port: "+out+"}"),
	)
	p := ovsdb.New(ovsdb.Options{Node: node, Logger: testLogger(t)})
	t.Cleanup(p.Close)
	manager := set.Get("OVSManager", "ovs1")
	conformance.Run(t, p, []conformance.Case{{
		Name: "bridge", Set: set, Ref: reconciler.Ref{Kind: "Bridge", Name: "conf-br"},
		Prepare: func(t *testing.T) {
			// The manager is connected first, as the engine would.
			err := p.Apply(context.Background(), reconciler.Request{Ref: reconciler.RefOf(manager), Desired: manager, Set: set},
				reconciler.Change{Action: reconciler.ActionCreate})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
		},
		Update: func(obj *spec.Object) {
			b := obj.Spec.(*spec.BridgeSpec)
			b.FailMode = "secure"
			b.ExternalIDs["team"] = "ops"
		},
		Drift: func(t *testing.T) { ovstest.Vsctl(t, o.DB, "set", "Bridge", br, "fail_mode=standalone") },
	}, {
		Name: "mirror", Set: set, Ref: reconciler.Ref{Kind: "Mirror", Name: "conf-mirror"},
		Prepare: func(t *testing.T) {
			o.AddBridge(t, host)
			t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", host) })
			o.AddPorts(t, host, []string{p1, p2, out})
		},
		Update: func(obj *spec.Object) {
			m := obj.Spec.(*spec.MirrorSpec)
			m.SelectDstPorts = []string{p2}
			m.SelectVLANs = []int{10, 20}
		},
		Drift: func(t *testing.T) { ovstest.Vsctl(t, o.DB, "clear", "Mirror", "conf-mirror", "select_src_port") },
	}})
}
