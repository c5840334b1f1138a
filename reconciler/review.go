package reconciler

import (
	"fmt"
	"slices"

	"github.com/wirekeeper/wirekeeper/spec"
)

// NodePlan is what moving one node from a base revision to a head revision
// would change, judged from the two specs alone (the review of a pull
// request, where the live system is out of reach).
type NodePlan struct {
	Node string `json:"node"`
	// Changes are the creates, updates and deletes, sorted by kind order
	// then name; Diff goes from base to head.
	Changes []Change `json:"changes"`
	// Unchanged counts the objects the same in both revisions.
	Unchanged int `json:"unchanged"`
	// PruneGuard, when set, says the daemon would refuse the head revision.
	PruneGuard string `json:"pruneGuard,omitempty"`
}

// HasChanges reports whether the plan would change anything.
func (p *NodePlan) HasChanges() bool { return len(p.Changes) > 0 }

// PlanRevisions plans every node of base or head (or only those in nodes,
// when given) from base's desired state to head's. headMessage is the head
// commit's message (for the allow-prune trailer); maxPruneFraction is the
// daemons' guard. A nil base plans from nothing.
func PlanRevisions(base, head *spec.Set, nodes []string, headMessage string, maxPruneFraction float64) []NodePlan {
	if base == nil {
		base = &spec.Set{}
	}
	if len(nodes) == 0 {
		nodes = slices.Concat(base.Nodes(), head.Nodes())
		slices.Sort(nodes)
		nodes = slices.Compact(nodes)
	}
	out := make([]NodePlan, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, planNode(base, head, n, headMessage, maxPruneFraction))
	}
	return out
}

func planNode(base, head *spec.Set, node, headMessage string, maxPruneFraction float64) NodePlan {
	plan := NodePlan{Node: node}
	was := map[Ref]*spec.Object{}
	for _, o := range base.ForNode(node) {
		was[RefOf(o)] = o
	}
	deletes := 0
	for _, o := range head.ForNode(node) {
		r := RefOf(o)
		prev := was[r]
		delete(was, r)
		switch {
		case prev == nil:
			plan.Changes = append(plan.Changes, Change{Ref: r, Action: ActionCreate, Reason: "added", Desired: o, Diff: DiffSpecs(nil, o.Spec)})
		default:
			d := DiffSpecs(prev.Spec, o.Spec)
			d = append(d, diffAnnotations(prev, o)...)
			if len(d) == 0 {
				plan.Unchanged++
				continue
			}
			plan.Changes = append(plan.Changes, Change{Ref: r, Action: ActionUpdate, Reason: fmt.Sprintf("%d field%s changed", len(d), plural(len(d))), Desired: o, Diff: d})
		}
	}
	for r, o := range was {
		deletes++
		plan.Changes = append(plan.Changes, Change{Ref: r, Action: ActionDelete, Reason: "removed from the spec", Diff: DiffSpecs(o.Spec, nil)})
	}
	slices.SortFunc(plan.Changes, func(a, b Change) int { return CompareRefs(a.Ref, b.Ref) })
	owned := len(base.ForNode(node))
	if pruneRefused(deletes, owned, maxPruneFraction, headMessage) {
		plan.PruneGuard = fmt.Sprintf("removes %d of the node's %d objects, more than the prune guard allows (%.0f%%): the daemon will refuse this revision unless the head commit message carries %q",
			deletes, owned, maxPruneFraction*100, AllowPruneTrailer)
	}
	return plan
}

// diffAnnotations reports a change of the suspend annotation, which
// changes what the daemon does although the spec is the same.
func diffAnnotations(a, b *spec.Object) []FieldDiff {
	if a.Suspended() == b.Suspended() {
		return nil
	}
	var from, to any
	if v, ok := a.Metadata.Annotations[spec.AnnotationSuspend]; ok {
		from = v
	}
	if v, ok := b.Metadata.Annotations[spec.AnnotationSuspend]; ok {
		to = v
	}
	return []FieldDiff{{Path: "metadata.annotations." + spec.AnnotationSuspend, From: from, To: to}}
}
