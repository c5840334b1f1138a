package reconciler

import (
	"context"
	"fmt"
	"slices"

	"github.com/wirekeeper/wirekeeper/spec"
)

// LivePlan is what a daemon would do to one node's live system now, judged
// by the same decision table the engine runs (Decide) on what the
// providers observe: `wirekeeper diff`. Nothing is applied.
type LivePlan struct {
	Node string `json:"node"`
	// Changes are the creates, updates (adoptions among them) and deletes
	// the daemon would apply, prunes included, sorted by kind order then
	// name; Diff goes from live to desired.
	Changes []Change `json:"changes"`
	// Reported are the changes of objects under policy observe: the daemon
	// reports them as drift and changes nothing.
	Reported []Change `json:"reported,omitempty"`
	// Held are the objects the daemon would leave alone, with why: waiting
	// for a live prerequisite, an unowned object in the way, suspended.
	Held []Held `json:"held,omitempty"`
	// Unchanged counts the objects in sync.
	Unchanged int `json:"unchanged"`
	// PruneGuard, when set, says the daemon would refuse the revision: it
	// prunes more than the guard allows.
	PruneGuard string `json:"pruneGuard,omitempty"`
}

// Held is an object the daemon would not change, and why.
type Held struct {
	Ref    Ref    `json:"ref"`
	Reason string `json:"reason"`
}

// HasChanges reports whether the daemon would change anything.
func (p *LivePlan) HasChanges() bool { return len(p.Changes) > 0 }

// PlanLive plans node's objects of set against the live system, through
// provs (each observes the kinds it claims): only Observe and Owned are
// called. message is the revision's commit message (for the allow-prune
// trailer) and maxPruneFraction the daemon's guard (see Options).
func PlanLive(ctx context.Context, set *spec.Set, node string, provs []Provider, message string, maxPruneFraction float64) (LivePlan, error) {
	plan := LivePlan{Node: node}
	byKind := map[string]Provider{}
	for _, p := range provs {
		for _, k := range p.Kinds() {
			byKind[k] = p
		}
	}
	// Owned first: it also connects what the node uses (the OVSDB
	// managers), so that the observes below see the live objects.
	var ownedRefs []Ref
	for _, p := range provs {
		refs, err := p.Owned(ctx, set)
		if err != nil {
			return plan, fmt.Errorf("%s: list owned objects: %w", p.Name(), err)
		}
		ownedRefs = append(ownedRefs, refs...)
	}
	desired := map[Ref]bool{}
	for _, o := range set.ForNode(node) {
		ref := RefOf(o)
		desired[ref] = true
		p := byKind[o.Kind]
		switch {
		case p == nil:
			plan.Held = append(plan.Held, Held{ref, "no provider for kind " + o.Kind + " is built into this wirekeeper"})
			continue
		case o.Suspended():
			plan.Held = append(plan.Held, Held{ref, "paused by the " + spec.AnnotationSuspend + " annotation"})
			continue
		}
		obs, err := p.Observe(ctx, Request{Ref: ref, Desired: o, Set: set})
		if err != nil {
			return plan, fmt.Errorf("observe %s: %w", ref, err)
		}
		ch, v, adopting := judge(ref, o, obs, o.Policy())
		switch v {
		case verdictWaiting:
			plan.Held = append(plan.Held, Held{ref, "waiting: " + obs.Pending})
		case verdictNoop:
			plan.Unchanged++
		case verdictInTheWay:
			plan.Held = append(plan.Held, Held{ref, fmt.Sprintf("a live %s named %q exists that wirekeeper did not create; it is left alone", ref.Kind, ref.Name)})
		case verdictObserve:
			if adopting && len(ch.Diff) == 0 {
				// What `wirekeeper import` wrote: the live object, not adopted yet.
				plan.Held = append(plan.Held, Held{ref, "matches the spec; policy observe: not adopted until the policy is enforce"})
			} else {
				plan.Reported = append(plan.Reported, ch)
			}
		default: // verdictApply, verdictRemoveStale
			plan.Changes = append(plan.Changes, ch)
		}
	}
	var prunes []Change
	for _, ref := range ownedRefs {
		if !desired[ref] {
			prunes = append(prunes, Change{Ref: ref, Action: ActionDelete, Reason: "owned by this node and no longer in the spec: pruned"})
		}
	}
	plan.Changes = append(plan.Changes, prunes...)
	if n, owned := len(prunes), len(ownedRefs); pruneRefused(n, owned, maxPruneFraction, message) {
		plan.PruneGuard = fmt.Sprintf("prunes %d of the node's %d owned objects, more than the prune guard allows (%.0f%%): the daemon refuses this revision unless its commit message carries %q",
			n, owned, max(maxPruneFraction, 0)*100, AllowPruneTrailer)
	}
	for _, l := range [][]Change{plan.Changes, plan.Reported} {
		slices.SortFunc(l, func(a, b Change) int { return CompareRefs(a.Ref, b.Ref) })
	}
	slices.SortFunc(plan.Held, func(a, b Held) int { return CompareRefs(a.Ref, b.Ref) })
	return plan, nil
}
