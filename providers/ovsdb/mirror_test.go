package ovsdb_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// driftOf returns the newest drift event of kind/name.
func (r *rig) driftOf(kind, name string) *reconciler.DriftEvent {
	for _, d := range r.e.Status().Drift {
		if d.Kind == kind && d.Name == name {
			return &d
		}
	}
	return nil
}

func (r *rig) driftCount(name string) int {
	n := 0
	for _, d := range r.e.Status().Drift {
		if d.Name == name {
			n++
		}
	}
	return n
}

// TestMirrorsAppliedRepairedReportedAndPruned drives the whole life of
// mirrors on a real ovsdb-server, with ovs-vsctl as the foreign client.
func TestMirrorsAppliedRepairedReportedAndPruned(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkm")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	p1, p2, p3, out := br+"a", br+"b", br+"c", br+"o"
	o.AddPorts(t, br, []string{p1, p2, p3, out})
	// Mirrors made by others before wirekeeper: one foreign, one the spec names.
	o.Vsctl(t, "--", "--id=@p", "get", "Port", p3, "--", "--id=@m", "create", "Mirror", "name=legacy",
		"select_src_port=@p", "output_port=@p", "--", "add", "Bridge", br, "mirrors", "@m")
	o.Vsctl(t, "--", "--id=@o", "get", "Port", out, "--", "--id=@m", "create", "Mirror", "name=adopt-me",
		"select_all=true", "output_port=@o", "--", "add", "Bridge", br, "mirrors", "@m")
	// Every column but statistics, which ovs-vswitchd writes.
	legacyColumns := []string{"--columns=_uuid,name,external_ids,select_all,select_src_port,select_dst_port,select_vlan,output_port,output_vlan", "list", "Mirror", "legacy"}
	legacyBefore := o.Vsctl(t, legacyColumns...)

	r := newRig(t)
	docs := []string{
		managerDoc("ovs1", o.DB),
		mirrorDoc("m1", "ovs1", br, "selectSrcPorts: ["+p1+", "+p2+"], selectDstPorts: ["+p1+"], output: {port: "+out+"}"),
		mirrorDoc("m2", "ovs1", br, "selectAll: true, selectVlans: [10, 20], output: {port: "+out+"}"),
		mirrorDoc("watched", "ovs1", br, "selectSrcPorts: ["+p2+"], output: {port: "+out+"}, policy: observe"),
		mirrorDoc("adopted", "ovs1", br, "mirrorName: adopt-me, selectSrcPorts: ["+p1+"], output: {port: "+out+"}"),
	}
	// Under observe wirekeeper creates nothing: watched is made under
	// enforce first, then observed.
	r.apply(append(slices.Clone(docs[:3]), strings.Replace(docs[3], ", policy: observe", "", 1), docs[4])...)
	r.waitPhase("Mirror", "watched", reconciler.PhaseReady)
	r.apply(docs...)
	for _, m := range []string{"m1", "m2", "watched", "adopted"} {
		r.waitPhase("Mirror", m, reconciler.PhaseReady)
	}
	r.waitPhase("OVSManager", "ovs1", reconciler.PhaseReady)
	if got, want := mirrorsOn(t, o.DB, br), []string{"adopt-me", "legacy", "m1", "m2", "watched"}; !cmp.Equal(got, want) {
		t.Fatalf("mirrors on %s = %v, want %v (other mirrors are never replaced)", br, got, want)
	}
	if ids := mirrorColumn(t, o.DB, "m1", "external_ids"); !strings.Contains(ids, `"wirekeeper.io/owner"=hv1`) || !strings.Contains(ids, `"wirekeeper.io/name"=m1`) {
		t.Errorf("m1 external_ids = %s, want the ownership marker", ids)
	}
	if got := mirrorColumn(t, o.DB, "m2", "select_vlan"); got != "[10, 20]" {
		t.Errorf("m2 select_vlan = %s", got)
	}

	// Adoption: the same-name mirror was taken over, not duplicated, and recorded.
	if ids := mirrorColumn(t, o.DB, "adopt-me", "external_ids"); !strings.Contains(ids, `"wirekeeper.io/name"=adopted`) {
		t.Errorf("adopt-me external_ids = %s, want adopted's marker", ids)
	}
	if got := mirrorColumn(t, o.DB, "adopt-me", "select_all"); got != "false" {
		t.Errorf("adopt-me select_all = %s after adoption, want false as the spec says", got)
	}
	if d := r.driftOf("Mirror", "adopted"); d == nil || !d.Adopted || !d.Repaired {
		t.Errorf("drift event of adopted = %+v, want a completed adoption", d)
	}
	// The foreign mirror is listed, untouched.
	mgr := r.e.Status().Object(reconciler.Ref{Kind: "OVSManager", Name: "ovs1"})
	if !slices.Contains(mgr.Unmanaged, "Mirror "+br+"/legacy") {
		t.Errorf("manager's unmanaged list = %v, want the legacy mirror", mgr.Unmanaged)
	}

	t.Run("deleted mirror is recreated", func(t *testing.T) {
		uuid := mirrorColumn(t, o.DB, "m1", "_uuid")
		o.Vsctl(t, "remove", "Bridge", br, "mirrors", uuid, "--", "destroy", "Mirror", uuid)
		r.waitFor("m1 back", func() bool { return mirrorColumn(t, o.DB, "m1", "_uuid") != "" })
		r.waitFor("drift of m1 recorded as repaired", func() bool {
			d := r.driftOf("Mirror", "m1")
			return d != nil && d.Repaired
		})
		d := r.driftOf("Mirror", "m1")
		if want := []reconciler.FieldDiff{{Path: "exists", From: true, To: false}}; !cmp.Equal(d.Diff, want) {
			t.Errorf("drift diff = %v, want %v", d.Diff, want)
		}
	})
	t.Run("removed from Bridge.mirrors is put back", func(t *testing.T) {
		uuid := mirrorColumn(t, o.DB, "m2", "_uuid")
		n := r.driftCount("m2")
		o.Vsctl(t, "remove", "Bridge", br, "mirrors", uuid)
		r.waitFor("m2 back on the bridge", func() bool { return slices.Contains(mirrorsOn(t, o.DB, br), "m2") })
		r.waitFor("drift of m2 recorded", func() bool { return r.driftCount("m2") == n+1 })
	})
	t.Run("changed column is repaired with old and new values recorded", func(t *testing.T) {
		o.Vsctl(t, "--", "--id=@p", "get", "Port", p3, "--", "set", "Mirror", "m1", "select_src_port=@p")
		r.waitFor("m1 selects p1 and p2 again", func() bool {
			return len(strings.Split(mirrorColumn(t, o.DB, "m1", "select_src_port"), ",")) == 2
		})
		r.waitFor("drift recorded", func() bool {
			d := r.driftOf("Mirror", "m1")
			return d != nil && d.Repaired && len(d.Diff) == 1 && d.Diff[0].Path == "spec.selectSrcPorts"
		})
		d := r.driftOf("Mirror", "m1")
		if want := (reconciler.FieldDiff{Path: "spec.selectSrcPorts", From: []string{p1, p2}, To: []string{p3}}); !cmp.Equal(d.Diff[0], want) {
			t.Errorf("drift = %v, want %v", d.Diff[0], want)
		}
	})
	t.Run("observe policy reports and does not repair", func(t *testing.T) {
		o.Vsctl(t, "set", "Mirror", "watched", "select_all=true")
		r.waitPhase("Mirror", "watched", reconciler.PhaseDrifted, "spec.selectAll is true, want false")
		d := r.driftOf("Mirror", "watched")
		if d == nil || d.Repaired || d.Policy != "observe" {
			t.Fatalf("drift of watched = %+v, want reported under observe", d)
		}
		if got := mirrorColumn(t, o.DB, "watched", "select_all"); got != "true" {
			t.Errorf("watched select_all = %s: observe policy changed the live mirror", got)
		}
	})
	t.Run("removed from git is pruned, foreign left alone", func(t *testing.T) {
		r.apply(docs[0], docs[1], docs[3], docs[4]) // without m2
		r.waitFor("m2 gone", func() bool { return !slices.Contains(mirrorsOn(t, o.DB, br), "m2") })
		if got := o.Vsctl(t, legacyColumns...); got != legacyBefore {
			t.Errorf("the foreign mirror changed:\nbefore %s\nafter  %s", legacyBefore, got)
		}
	})
}

// TestMirrorPortsComeAndGo: a VM reboot deletes and recreates its port
// with a new UUID; a deleted output port makes the mirror wait.
func TestMirrorPortsComeAndGo(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkp")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	vm1, vm2, out := br+"a", br+"b", br+"o"
	o.AddPorts(t, br, []string{vm1, vm2, out})
	r := newRig(t)
	r.apply(managerDoc("ovs1", o.DB), mirrorDoc("span", "ovs1", br, "selectSrcPorts: ["+vm1+", "+vm2+"], output: {port: "+out+"}"))
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)

	o.Vsctl(t, "del-port", br, vm2)
	r.waitPhase("Mirror", "span", reconciler.PhaseDegraded, "selected ports missing: "+vm2+" (src)")
	if got := mirrorColumn(t, o.DB, "span", "select_src_port"); strings.Contains(got, ",") || got == "[]" {
		t.Errorf("span selects %s, want only %s's port", got, vm1)
	}
	o.AddPorts(t, br, []string{vm2}) // the VM is back, its port with a new UUID
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)
	newUUID := strings.TrimSpace(o.Vsctl(t, "get", "Port", vm2, "_uuid"))
	if got := mirrorColumn(t, o.DB, "span", "select_src_port"); !strings.Contains(got, newUUID) {
		t.Errorf("span select_src_port = %s, want the new port %s", got, newUUID)
	}

	o.Vsctl(t, "del-port", br, out)
	r.waitPhase("Mirror", "span", reconciler.PhasePending, "output port "+out+" not found")
	if got := mirrorColumn(t, o.DB, "span", "output_port"); got != "[]" {
		t.Errorf("output_port = %s after the port was deleted", got)
	}
	o.AddPorts(t, br, []string{out})
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)
	outUUID := strings.TrimSpace(o.Vsctl(t, "get", "Port", out, "_uuid"))
	if got := mirrorColumn(t, o.DB, "span", "output_port"); got != outUUID {
		t.Errorf("output_port = %s, want the recreated port %s", got, outUUID)
	}
}

// TestMirrorOutputVLAN: a mirror whose output is a VLAN (OVS output_vlan)
// is created with that column and no output port, repaired when the column
// is changed or cleared by another client, and moved between an output
// port and an output VLAN when the spec changes.
func TestMirrorOutputVLAN(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkv")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	vm, out := br+"a", br+"o"
	o.AddPorts(t, br, []string{vm, out})
	r := newRig(t)
	mgr := managerDoc("ovs1", o.DB)
	r.apply(mgr, mirrorDoc("vspan", "ovs1", br, "selectSrcPorts: ["+vm+"], output: {vlan: 999}"))
	r.waitPhase("Mirror", "vspan", reconciler.PhaseReady)
	columns := func() [2]string {
		return [2]string{mirrorColumn(t, o.DB, "vspan", "output_vlan"), mirrorColumn(t, o.DB, "vspan", "output_port")}
	}
	if got, want := columns(), [2]string{"999", "[]"}; got != want {
		t.Fatalf("output_vlan, output_port = %v, want %v", got, want)
	}

	t.Run("changed output_vlan is repaired", func(t *testing.T) {
		o.Vsctl(t, "set", "Mirror", "vspan", "output_vlan=5")
		r.waitFor("drift of output_vlan recorded as repaired", func() bool {
			d := r.driftOf("Mirror", "vspan")
			return d != nil && d.Repaired && len(d.Diff) == 1 && d.Diff[0].Path == "spec.output.vlan"
		})
		r.waitFor("output_vlan 999 again", func() bool { return mirrorColumn(t, o.DB, "vspan", "output_vlan") == "999" })
		d := r.driftOf("Mirror", "vspan")
		if want := (reconciler.FieldDiff{Path: "spec.output.vlan", From: 999, To: 5}); !cmp.Equal(d.Diff[0], want) {
			t.Errorf("drift = %v, want %v", d.Diff[0], want)
		}
	})
	t.Run("cleared output_vlan is repaired", func(t *testing.T) {
		n := r.driftCount("vspan")
		o.Vsctl(t, "clear", "Mirror", "vspan", "output_vlan")
		r.waitFor("drift recorded", func() bool { return r.driftCount("vspan") == n+1 })
		r.waitFor("output_vlan 999 again", func() bool { return mirrorColumn(t, o.DB, "vspan", "output_vlan") == "999" })
	})
	t.Run("spec moves the output to a port and back", func(t *testing.T) {
		r.apply(mgr, mirrorDoc("vspan", "ovs1", br, "selectSrcPorts: ["+vm+"], output: {port: "+out+"}"))
		outUUID := strings.TrimSpace(o.Vsctl(t, "get", "Port", out, "_uuid"))
		r.waitFor("output_port set, output_vlan cleared", func() bool { return columns() == [2]string{"[]", outUUID} })
		r.waitPhase("Mirror", "vspan", reconciler.PhaseReady)
		r.apply(mgr, mirrorDoc("vspan", "ovs1", br, "selectSrcPorts: ["+vm+"], output: {vlan: 998}"))
		r.waitFor("output_vlan set, output_port cleared", func() bool { return columns() == [2]string{"998", "[]"} })
		r.waitPhase("Mirror", "vspan", reconciler.PhaseReady)
	})
}
