package reconciler_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestPlanLive: each object lands where the daemon would put it, and
// PlanLive only reads (no apply reaches the provider).
func TestPlanLive(t *testing.T) {
	set := mustSet(t, docs([]string{"br0"}, "new", "drifted", "watched:observe", "paused:suspend", "waiting", "foreign", "same"))
	p := memory.New("test")
	mirror := func(port string) *spec.MirrorSpec {
		return &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", SelectAll: true, Output: &spec.MirrorOutput{Port: port}}
	}
	live := func(name string) any {
		s := *set.Get("Mirror", name).Spec.(*spec.MirrorSpec)
		return &s
	}
	p.Put(ref("OVSManager", "ovs1"), set.Get("OVSManager", "ovs1").Spec, true)
	p.Put(ref("Bridge", "br0"), set.Get("Bridge", "br0").Spec, true)
	p.Put(ref("Mirror", "drifted"), mirror("tap9"), true)
	p.Put(ref("Mirror", "watched"), mirror("tap9"), true)
	p.SetPending(ref("Mirror", "waiting"), "port tap0 is on no bridge")
	p.Put(ref("Mirror", "foreign"), mirror("tap9"), false)
	p.Put(ref("Mirror", "same"), live("same"), true)
	p.Put(ref("Mirror", "gone"), mirror("tap0"), true)

	plan, err := reconciler.PlanLive(context.Background(), set, "hv1", []reconciler.Provider{p}, "", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Ref, What string }
	var got []row
	for _, ch := range plan.Changes {
		got = append(got, row{ch.Ref.String(), string(ch.Action)})
	}
	for _, ch := range plan.Reported {
		got = append(got, row{ch.Ref.String(), "reported " + string(ch.Action)})
	}
	for _, h := range plan.Held {
		got = append(got, row{h.Ref.String(), "held: " + h.Reason})
	}
	want := []row{
		{"Mirror/drifted", "update"},
		{"Mirror/gone", "delete"},
		{"Mirror/new", "create"},
		{"Mirror/watched", "reported update"},
		{"Mirror/foreign", `held: a live Mirror named "foreign" exists that wirekeeper did not create; it is left alone`},
		{"Mirror/paused", "held: paused by the wirekeeper.io/suspend annotation"},
		{"Mirror/waiting", "held: waiting: port tap0 is on no bridge"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	if plan.Unchanged != 3 { // the manager, the bridge, Mirror/same
		t.Errorf("Unchanged = %d, want 3", plan.Unchanged)
	}
	if plan.PruneGuard != "" {
		t.Errorf("prune guard %q for 1 of 6 owned", plan.PruneGuard)
	}
	if n := len(p.Order()); n != 0 {
		t.Errorf("PlanLive applied %d changes, want none", n)
	}
}

// TestPlanLiveReportsThePruneGuard: pruning more than the guard allows is
// what the daemon refuses; the trailer lifts it, as for the daemon.
func TestPlanLiveReportsThePruneGuard(t *testing.T) {
	set := mustSet(t, docs(nil))
	p := memory.New("test")
	p.Put(ref("OVSManager", "ovs1"), set.Get("OVSManager", "ovs1").Spec, true)
	for _, n := range []string{"a", "b"} {
		p.Put(ref("Mirror", n), &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0"}, true)
	}
	plan, err := reconciler.PlanLive(context.Background(), set, "hv1", []reconciler.Provider{p}, "", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if want := "prunes 2 of the node's 3 owned objects"; !strings.Contains(plan.PruneGuard, want) {
		t.Errorf("prune guard %q, want %q", plan.PruneGuard, want)
	}
	plan, err = reconciler.PlanLive(context.Background(), set, "hv1", []reconciler.Provider{p}, "x\n\n"+reconciler.AllowPruneTrailer, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if plan.PruneGuard != "" || len(plan.Changes) != 2 {
		t.Errorf("with the trailer: guard %q, %d changes; want none and 2", plan.PruneGuard, len(plan.Changes))
	}
}

// staleMemory is the memory provider with one object whose prerequisite is
// gone while it still exists, owned (as a container port whose container
// was removed): Observe reports it Pending and Stale.
type staleMemory struct {
	*memory.Provider
	stale reconciler.Ref
}

func (p staleMemory) Observe(ctx context.Context, req reconciler.Request) (reconciler.Observation, error) {
	obs, err := p.Provider.Observe(ctx, req)
	if req.Ref == p.stale {
		obs.Pending, obs.Stale = "container web is gone", true
	}
	return obs, err
}

// TestPlanLiveRemovesAStaleObject: what the daemon removes at once (an
// owned live object whose prerequisite is gone, under enforce) is a change
// in the plan, not something waiting; under observe it waits.
func TestPlanLiveRemovesAStaleObject(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   []string
	}{
		{"", []string{"change delete: container web is gone; removing what is left of it"}},
		{":observe", []string{"held: waiting: container web is gone"}},
	} {
		set := mustSet(t, docs([]string{"br0"}, "left"+tc.policy))
		p := staleMemory{memory.New("test"), ref("Mirror", "left")}
		p.Put(ref("OVSManager", "ovs1"), set.Get("OVSManager", "ovs1").Spec, true)
		p.Put(ref("Bridge", "br0"), set.Get("Bridge", "br0").Spec, true)
		p.Put(ref("Mirror", "left"), set.Get("Mirror", "left").Spec, true)
		plan, err := reconciler.PlanLive(context.Background(), set, "hv1", []reconciler.Provider{p}, "", 0.5)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range plan.Changes {
			got = append(got, "change "+string(ch.Action)+": "+ch.Reason)
		}
		for _, h := range plan.Held {
			got = append(got, "held: "+h.Reason)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("policy %q: plan (-want +got):\n%s", tc.policy, d)
		}
	}
}
