package reconciler_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

func TestPlanRevisions(t *testing.T) {
	base := mustSet(t, docs([]string{"br0"}, "m1", "m2", "m3"))
	changed := strings.Replace(docs([]string{"br0"}, "m1", "m4:suspend"), "port: tap0", "port: tap1", 1)
	head := mustSet(t, changed)

	plans := reconciler.PlanRevisions(base, head, nil, "change mirrors", 0.5)
	if len(plans) != 1 || plans[0].Node != node {
		t.Fatalf("plans = %+v", plans)
	}
	p := plans[0]
	var got []string
	for _, c := range p.Changes {
		got = append(got, string(c.Action)+" "+c.Ref.String())
	}
	want := []string{"update Mirror/m1", "delete Mirror/m2", "delete Mirror/m3", "create Mirror/m4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]reconciler.FieldDiff{{Path: "spec.output.port", From: "tap0", To: "tap1"}}, p.Changes[0].Diff); diff != "" {
		t.Errorf("m1 diff (-want +got):\n%s", diff)
	}
	if p.Unchanged != 2 {
		t.Errorf("unchanged = %d, want 2 (manager and bridge)", p.Unchanged)
	}
	// 2 deletes of 5 objects: within the guard.
	if p.PruneGuard != "" {
		t.Errorf("prune guard: %s", p.PruneGuard)
	}

	gone := reconciler.PlanRevisions(base, mustSet(t, docs(nil)), []string{node}, "drop all", 0.5)[0]
	if !strings.Contains(gone.PruneGuard, "removes 4 of the node's 5 objects") {
		t.Errorf("prune guard = %q", gone.PruneGuard)
	}
	allowed := reconciler.PlanRevisions(base, mustSet(t, docs(nil)), []string{node}, "drop all\n\nwirekeeper: allow-prune", 0.5)[0]
	if allowed.PruneGuard != "" {
		t.Errorf("with the trailer, prune guard = %q", allowed.PruneGuard)
	}
	same := reconciler.PlanRevisions(base, base, nil, "", 0.5)[0]
	if same.HasChanges() {
		t.Errorf("same revision has changes: %+v", same.Changes)
	}
}
