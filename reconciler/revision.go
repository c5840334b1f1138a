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
	slices.SortFunc(prune, CompareRefs)
	if pruneRefused(len(prune), len(owned), e.opts.MaxPruneFraction, rev.Message) {
		return &PruneGuardError{Prune: len(prune), Owned: len(owned), Fraction: e.opts.MaxPruneFraction, Refs: prune}
	}
	dependencies := set.Dependencies()

	e.mu.Lock()
	for r, o := range e.desired {
		if st := e.objects[r]; st != nil && desired[r] == nil {
			st.last = o // where a pruned object was, for its provider
		}
	}
	e.rev, e.set, e.desired = rev, set, desired
	e.prune = map[Ref]bool{}
	for _, r := range prune {
		e.prune[r] = true
	}
	for r := range e.objects {
		if desired[r] == nil && !e.prune[r] {
			delete(e.objects, r)
		}
	}
	now := e.opts.Now()
	track := func(r Ref, msg string) *objectState {
		st := e.objects[r]
		if st == nil {
			st = &objectState{status: ObjectStatus{Kind: r.Kind, Name: r.Name, Phase: PhasePending, Message: msg}}
			setCondition(&st.status, ConditionReady, "Unknown", "Pending", "", now)
			e.objects[r] = st
		}
		st.deps, st.rdeps, st.blockers = nil, nil, nil
		return st
	}
	for r, o := range desired {
		st := track(r, "not reconciled yet")
		st.desired, st.last, st.pruning = o, nil, false
	}
	for _, r := range prune {
		st := track(r, "removed from git; to be deleted")
		st.desired, st.pruning = nil, true
	}
	for id, ds := range dependencies {
		r := refOfID(id)
		st := e.objects[r]
		if st == nil || st.desired == nil {
			continue
		}
		for _, d := range ds {
			dr := refOfID(d)
			if dst := e.objects[dr]; dst != nil && dst.desired != nil && e.byKind[dr.Kind] != nil {
				st.deps = append(st.deps, dst)
				dst.rdeps = append(dst.rdeps, r)
			}
		}
	}
	e.linkPruneBlockers()
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

// linkPruneBlockers records, for each pruned object, the pruned objects
// that sat on it (a Mirror on a Bridge) and so must be removed first.
func (e *Engine) linkPruneBlockers() {
	var objs []*spec.Object
	for r := range e.prune {
		if l := e.objects[r].last; l != nil {
			objs = append(objs, l)
		}
	}
	for id, ds := range (&spec.Set{Objects: objs}).Dependencies() {
		st := e.objects[refOfID(id)]
		if st == nil || !st.pruning {
			continue
		}
		for _, d := range ds {
			if dst := e.objects[refOfID(d)]; dst != nil && dst.pruning {
				dst.blockers = append(dst.blockers, st)
			}
		}
	}
}

func refOfID(id string) Ref {
	k, n, _ := strings.Cut(id, "/")
	return Ref{Kind: k, Name: n}
}

// CompareRefs orders refs by kind (registry order) then name.
func CompareRefs(a, b Ref) int {
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
	slices.SortFunc(ns.Objects, func(a, b ObjectStatus) int { return CompareRefs(a.Ref(), b.Ref()) })
	for _, d := range e.drift {
		ns.Drift = append(ns.Drift, copyDrift(*d))
	}
	return ns
}

func copyStatus(s ObjectStatus) ObjectStatus {
	s.Conditions = slices.Clone(s.Conditions)
	s.Unmanaged = slices.Clone(s.Unmanaged)
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
		st := &objectState{status: copyStatus(os), restoredOnly: true}
		if os.Phase == PhaseReady {
			st.restoredReady = os.Revision
		}
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
