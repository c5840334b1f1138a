package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/spec"
)

func TestNormalizeLive(t *testing.T) {
	vlan := 7
	tests := []struct {
		name          string
		live, desired any
		want          any
	}{{
		name:    "placement fields come from the desired spec",
		live:    &spec.MirrorSpec{Bridge: "br0", MirrorName: "m", Output: &spec.MirrorOutput{Port: "o"}},
		desired: &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", MirrorName: "m", Output: &spec.MirrorOutput{Port: "o"}, Policy: spec.PolicyObserve},
		want:    &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", MirrorName: "m", Output: &spec.MirrorOutput{Port: "o"}, Policy: spec.PolicyObserve},
	}, {
		name:    "sets in the desired order, the others after in ascending order",
		live:    &spec.MirrorSpec{SelectSrcPorts: []string{"z", "b", "y", "a"}, SelectVLANs: []int{30, 10, 20}},
		desired: &spec.MirrorSpec{SelectSrcPorts: []string{"a", "b"}, SelectVLANs: []int{20, 10}},
		want:    &spec.MirrorSpec{SelectSrcPorts: []string{"a", "b", "y", "z"}, SelectVLANs: []int{20, 10, 30}},
	}, {
		name:    "a set the desired spec lacks is sorted",
		live:    &spec.MirrorSpec{SelectDstPorts: []string{"q", "p"}},
		desired: &spec.MirrorSpec{},
		want:    &spec.MirrorSpec{SelectDstPorts: []string{"p", "q"}},
	}, {
		name:    "nested structs are completed too",
		live:    &spec.CollectorTargetSpec{Netbeam: &spec.Netbeam{Metrics: []string{"traffic", "errors"}}},
		desired: &spec.CollectorTargetSpec{Node: "hv1", Netbeam: &spec.Netbeam{Metrics: []string{"errors", "traffic"}}},
		want:    &spec.CollectorTargetSpec{Node: "hv1", Netbeam: &spec.Netbeam{Metrics: []string{"errors", "traffic"}}},
	}, {
		name:    "a real difference stays",
		live:    &spec.MirrorSpec{Output: &spec.MirrorOutput{VLAN: &vlan}, SelectAll: true},
		desired: &spec.MirrorSpec{Output: &spec.MirrorOutput{Port: "o"}},
		want:    &spec.MirrorSpec{Output: &spec.MirrorOutput{VLAN: &vlan}, SelectAll: true},
	}, {
		name:    "no live object",
		live:    nil,
		desired: &spec.MirrorSpec{Manager: "ovs1"},
		want:    nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneSpec(tt.live)
			got := normalizeLive(tt.live, tt.desired)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("normalizeLive (-want +got):\n%s", d)
			}
			if d := cmp.Diff(before, tt.live); d != "" {
				t.Errorf("normalizeLive changed its input (-before +after):\n%s", d)
			}
		})
	}
}

// TestNormalizeLiveCopiesOnlyWhenNeeded: a live object already in the
// engine's form is returned as it is, with no allocation.
func TestNormalizeLiveCopiesOnlyWhenNeeded(t *testing.T) {
	desired := &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", SelectSrcPorts: []string{"a", "b"}, Policy: spec.PolicyEnforce}
	live := &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", SelectSrcPorts: []string{"a", "b"}, Policy: spec.PolicyEnforce}
	if got := normalizeLive(live, desired); got != any(live) {
		t.Errorf("normalizeLive returned a copy of a live object already complete")
	}
	if n := testing.AllocsPerRun(100, func() { normalizeLive(live, desired) }); n != 0 {
		t.Errorf("normalizeLive of a complete live object: %.0f allocations, want 0", n)
	}
}

// TestDecideCompletesLive: the engine's decision table sees the completed
// live object, so a provider that reports only what the live system holds
// is in sync.
func TestDecideCompletesLive(t *testing.T) {
	desired := &spec.Object{Kind: "Mirror", Spec: &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", MirrorName: "m",
		SelectSrcPorts: []string{"b", "a"}, Output: &spec.MirrorOutput{Port: "o"}, Policy: spec.PolicyObserve}}
	obs := Observation{Exists: true, Owned: true, Live: &spec.MirrorSpec{Bridge: "br0", MirrorName: "m",
		SelectSrcPorts: []string{"a", "b"}, Output: &spec.MirrorOutput{Port: "o"}}}
	if ch := Decide(Ref{Kind: "Mirror", Name: "m"}, desired, obs); ch.Action != ActionNoop {
		t.Errorf("Decide = %s %v, want no-op", ch.Action, ch.Diff)
	}
}

func cloneSpec(x any) any {
	switch s := x.(type) {
	case *spec.MirrorSpec:
		c := *s
		return &c
	case *spec.CollectorTargetSpec:
		c := *s
		return &c
	}
	return x
}
