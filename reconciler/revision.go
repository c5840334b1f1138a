package reconciler

import (
	"context"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// SetRevision makes rev the enforced revision. set must be valid (the
// caller refuses invalid revisions before this). The providers' owned
// objects that the revision no longer declares are scheduled for pruning,
// unless they exceed the prune guard: then the revision is refused with a
// *PruneGuardError, nothing changes, and the previous revision stays
// enforced. Every affected object is enqueued.
func (e *Engine) SetRevision(ctx context.Context, rev Revision, set *spec.Set) error {
	desired := map[Ref]*spec.Object{}
	for _, o := range set.ForNode(e.opts.Node) {
		desired[RefOf(o)] = o
	}
	owned := e.owned(ctx, set)
	var prune []Ref
	for r := range owned {
		if desired[r] == nil {
			prune = append(prune, r)
		}
	}
	slices.SortFunc(prune, compareRefs)
	if len(prune) > 0 && float64(len(prune)) > e.opts.MaxPruneFraction*float64(len(owned)) &&
		!strings.Contains(rev.Message, AllowPruneTrailer) {
		return &PruneGuardError{Prune: len(prune), Owned: len(owned), Fraction: e.opts.MaxPruneFraction, Refs: prune}
	}
	deps, rdeps := map[Ref][]Ref{}, map[Ref][]Ref{}
	for id, ds := range set.Dependencies() {
		r := refOfID(id)
		if desired[r] == nil {
			continue
		}
		for _, d := range ds {
			deps[r] = append(deps[r], refOfID(d))
			rdeps[refOfID(d)] = append(rdeps[refOfID(d)], r)
		}
	}

	e.mu.Lock()
	for r, o := range e.desired {
		if desired[r] == nil {
			e.last[r] = o
		}
	}
	e.rev, e.set, e.desired, e.deps, e.rdeps = rev, set, desired, deps, rdeps
	e.prune = map[Ref]bool{}
	for _, r := range prune {
		e.prune[r] = true
	}
	for r := range e.last {
		if desired[r] != nil || !e.prune[r] {
			delete(e.last, r)
		}
	}
	e.blockers = pruneBlockers(e.last, e.prune)
	for r := range e.objects {
		if desired[r] == nil && !e.prune[r] {
			delete(e.objects, r)
		}
	}
	now := e.opts.Now()
	for r := range desired {
		if e.objects[r] == nil {
			st := &objectState{status: ObjectStatus{Kind: r.Kind, Name: r.Name, Phase: PhasePending, Message: "not reconciled yet"}}
			setCondition(&st.status, ConditionReady, "Unknown", "Pending", "", now)
			e.objects[r] = st
		}
	}
	if e.refused != nil && e.refused.Revision == rev.Hash {
		e.refused = nil
	}
	e.mu.Unlock()
	e.notify()

	for r := range desired {
		e.q.Add(r)
	}
	for _, r := range prune {
		e.q.Add(r)
	}
	return nil
}

// owned gathers the providers' owned objects on this node. A provider that
// cannot list them (its system is down) counts what the engine believes it
// owns: the objects it enforces or prunes for that provider.
func (e *Engine) owned(ctx context.Context, set *spec.Set) map[Ref]bool {
	ctx, cancel := context.WithTimeout(ctx, e.opts.OwnedTimeout)
	defer cancel()
	out := map[Ref]bool{}
	for _, p := range e.opts.Providers {
		refs, err := p.Owned(ctx, set)
		if err != nil {
			e.log.Warn("cannot list owned objects; using the last known ones", "provider", p.Name(), "err", err)
			e.mu.Lock()
			for r := range e.desired {
				if e.byKind[r.Kind] == p {
					out[r] = true
				}
			}
			for r := range e.prune {
				if e.byKind[r.Kind] == p {
					out[r] = true
				}
			}
			e.mu.Unlock()
			continue
		}
		for _, r := range refs {
			out[r] = true
		}
	}
	return out
}

// pruneBlockers maps each pruned object to the pruned objects that sat on
// it (a Mirror on a Bridge) and so must be removed first.
func pruneBlockers(last map[Ref]*spec.Object, prune map[Ref]bool) map[Ref][]Ref {
	objs := make([]*spec.Object, 0, len(last))
	for _, o := range last {
		objs = append(objs, o)
	}
	out := map[Ref][]Ref{}
	for id, ds := range (&spec.Set{Objects: objs}).Dependencies() {
		r := refOfID(id)
		if !prune[r] {
			continue
		}
		for _, d := range ds {
			if dr := refOfID(d); prune[dr] {
				out[dr] = append(out[dr], r)
			}
		}
	}
	return out
}

func refOfID(id string) Ref {
	k, n, _ := strings.Cut(id, "/")
	return Ref{Kind: k, Name: n}
}

func compareRefs(a, b Ref) int {
	if ra, rb := spec.KindRank(a.Kind), spec.KindRank(b.Kind); ra != rb {
		return ra - rb
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Refuse records a revision the node will not apply; the enforced revision
// does not change. A nil r clears the record.
func (e *Engine) Refuse(r *RefusedRevision) {
	e.mu.Lock()
	if r != nil && e.refused != nil && e.refused.Revision == r.Revision && e.refused.Reason == r.Reason {
		r.Since = e.refused.Since // the same refusal: keep when it started
	}
	e.refused = r
	e.mu.Unlock()
	e.notify()
}

// SetSourceProblem records (or, with nil, clears) a problem with the spec
// branch; the first time of an unchanged problem is kept.
func (e *Engine) SetSourceProblem(p *SourceProblem) {
	e.mu.Lock()
	if p != nil && e.source != nil && e.source.Reason == p.Reason {
		p.Since = e.source.Since
	}
	same := (p == nil && e.source == nil) || (p != nil && e.source != nil && *p == *e.source)
	e.source = p
	e.mu.Unlock()
	if !same {
		e.notify()
	}
}

// Revision returns the enforced revision and its spec set (nil before the first).
func (e *Engine) Revision() (Revision, *spec.Set) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rev, e.set
}

// Status returns a copy of the node's status, objects sorted.
func (e *Engine) Status() *NodeStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	ns := &NodeStatus{Node: e.opts.Node, AppliedRevision: e.rev.Hash, Objects: make([]ObjectStatus, 0, len(e.objects))}
	if e.refused != nil {
		r := *e.refused
		ns.Refused = &r
	}
	if e.source != nil {
		s := *e.source
		ns.Source = &s
	}
	for _, st := range e.objects {
		ns.Objects = append(ns.Objects, copyStatus(st.status))
	}
	slices.SortFunc(ns.Objects, func(a, b ObjectStatus) int { return compareRefs(a.Ref(), b.Ref()) })
	for _, d := range e.drift {
		ns.Drift = append(ns.Drift, copyDrift(*d))
	}
	return ns
}

func copyStatus(s ObjectStatus) ObjectStatus {
	s.Conditions = slices.Clone(s.Conditions)
	if s.LastDrift != nil {
		d := copyDrift(*s.LastDrift)
		s.LastDrift = &d
	}
	return s
}

func copyDrift(d DriftEvent) DriftEvent {
	d.Diff = slices.Clone(d.Diff)
	if d.RepairedAt != nil {
		t := *d.RepairedAt
		d.RepairedAt = &t
	}
	return d
}

// Restore takes over what an earlier run of this node wrote (conditions with
// their transition times, the drift log), so that a restart does not reset
// history. Call it before the first SetRevision.
func (e *Engine) Restore(prev *NodeStatus) {
	if prev == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range prev.Drift {
		d := copyDrift(prev.Drift[i])
		e.drift = append(e.drift, &d)
	}
	if len(e.drift) > MaxDriftEvents {
		e.drift = e.drift[:MaxDriftEvents]
	}
	for _, os := range prev.Objects {
		st := &objectState{status: copyStatus(os)}
		st.status.Phase, st.status.Message = PhasePending, "not reconciled yet since the daemon started"
		if os.LastDrift != nil {
			for _, d := range e.drift {
				if d.Time.Equal(os.LastDrift.Time) && d.Kind == os.Kind && d.Name == os.Name {
					st.status.LastDrift = d
					if !d.Repaired && d.Policy == string(spec.PolicyEnforce) {
						st.openDrift = d
					}
				}
			}
		}
		e.objects[os.Ref()] = st
	}
	if prev.Refused != nil {
		r := *prev.Refused
		e.refused = &r
	}
}
