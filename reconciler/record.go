package reconciler

// What a reconcile records about an object: drift events, adoptions,
// unmanaged neighbours, its phase and conditions.

import (
	"reflect"
	"slices"
	"time"

	"github.com/wirekeeper/wirekeeper/spec"
)

// noteDrift records a drift event when the live object moved away from a
// spec it was confirmed to match (a spec change is an update, not drift).
func (e *Engine) noteDrift(w work, ch Change, obs Observation, policy spec.Policy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := w.st
	sameSpec := st.synced != nil && reflect.DeepEqual(st.synced, w.desired.Spec)
	if !sameSpec && !(st.synced == nil && st.restoredReady != "" && st.restoredReady == w.rev.Hash) {
		return
	}
	var diff []FieldDiff
	if !obs.Exists {
		diff = []FieldDiff{{Path: "exists", From: true, To: false}}
	} else {
		for _, d := range ch.Diff {
			diff = append(diff, FieldDiff{Path: d.Path, From: d.To, To: d.From})
		}
	}
	if st.openDrift != nil && reflect.DeepEqual(st.openDrift.Diff, diff) {
		return // the same drift, still there
	}
	e.recordDrift(w, &DriftEvent{Diff: diff, Policy: string(policy)})
	if policy == spec.PolicyObserve {
		st.synced = nil // reported once, until the object is seen in sync again
	}
	e.log.Warn("drift", "object", w.ref.String(), "fields", len(diff), "policy", string(policy))
	if e.opts.Hooks.Drifted != nil {
		e.opts.Hooks.Drifted(w.ref.Kind, false)
	}
	e.notify()
}

// recordDrift stamps ev as seen now on w's object, puts it first in the
// bounded drift log and makes it the object's open drift. Callers hold e.mu.
func (e *Engine) recordDrift(w work, ev *DriftEvent) {
	ev.Time, ev.Kind, ev.Name, ev.Revision = e.opts.Now().UTC(), w.ref.Kind, w.ref.Name, w.rev.Hash
	e.drift = append([]*DriftEvent{ev}, e.drift...)
	if len(e.drift) > MaxDriftEvents {
		e.drift = e.drift[:MaxDriftEvents]
	}
	w.st.openDrift = ev
	w.st.status.LastDrift = ev
}

// noteAdoption records, once, that a live object wirekeeper did not create
// is being taken over (or, under policy observe, would be).
func (e *Engine) noteAdoption(w work, ch Change, policy spec.Policy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := w.st
	diff := []FieldDiff{{Path: "owner", From: "wirekeeper", To: nil}}
	for _, d := range ch.Diff {
		diff = append(diff, FieldDiff{Path: d.Path, From: d.To, To: d.From})
	}
	if st.openDrift != nil && st.openDrift.Adopted && reflect.DeepEqual(st.openDrift.Diff, diff) {
		return
	}
	e.recordDrift(w, &DriftEvent{Diff: diff, Policy: string(policy), Adopted: true})
	e.log.Warn("adopting", "object", w.ref.String(), "fields", len(ch.Diff), "policy", string(policy))
	e.notify()
}

// setUnmanaged keeps the list of foreign live objects under an object,
// and the provider's details about it.
func (e *Engine) setUnmanaged(w work, unmanaged []string, details []string) {
	e.mu.Lock()
	changed := !slices.Equal(w.st.status.Unmanaged, unmanaged) || !slices.Equal(w.st.status.Details, details)
	if changed {
		w.st.status.Unmanaged = slices.Clone(unmanaged)
		w.st.status.Details = slices.Clone(details)
	}
	e.mu.Unlock()
	if changed {
		e.notify()
	}
}

// converged records that the live object equals the spec; repaired says
// the engine just applied a change to get there.
func (e *Engine) converged(w work, obs Observation, repaired bool) {
	e.mu.Lock()
	if st := w.st; st != nil {
		st.synced, st.restoredReady = w.desired.Spec, ""
		if st.openDrift != nil {
			if repaired {
				t := e.opts.Now().UTC()
				st.openDrift.Repaired, st.openDrift.RepairedAt = true, &t
				if e.opts.Hooks.Drifted != nil {
					e.opts.Hooks.Drifted(w.ref.Kind, true)
				}
			}
			st.openDrift = nil
		}
	}
	e.mu.Unlock()
	e.setUnmanaged(w, obs.Unmanaged, obs.Details)
	if obs.Degraded != "" {
		e.setPhase(w, PhaseDegraded, "Degraded", obs.Degraded, nil)
		return
	}
	// One message whether or not this pass applied something, so that a
	// later pass finding nothing to do does not churn the status file.
	e.setPhase(w, PhaseReady, "InSync", "in sync", nil)
}

// forget drops a pruned object once it is gone from the live system.
func (e *Engine) forget(w work) {
	e.mu.Lock()
	if w.st.desired != nil {
		// A revision set while the delete ran wants the object again: it
		// is not forgotten but reconciled anew.
		e.mu.Unlock()
		e.q.Add(w.ref)
		return
	}
	w.st.pruning = false
	delete(e.prune, w.ref)
	had := e.objects[w.ref] == w.st
	if had {
		delete(e.objects, w.ref)
	}
	next := make([]Ref, 0, len(e.prune)) // pruned objects that may have waited for this one
	for r := range e.prune {
		next = append(next, r)
	}
	e.mu.Unlock()
	if had {
		e.notify()
		e.phaseChanged(w.ref, "")
	}
	for _, r := range next {
		e.q.Add(r)
	}
}

// setPhase updates an object's phase, message and conditions; err is the
// failure of observe or apply (nil when they succeeded). Dependents are
// enqueued when the object becomes Ready.
func (e *Engine) setPhase(w work, phase Phase, reason, msg string, err error) {
	now := e.opts.Now()
	e.mu.Lock()
	st := w.st
	s := &st.status
	before := s.Phase
	changed := s.Phase != phase || s.Message != msg || s.Revision != w.rev.Hash
	s.Phase, s.Message, s.Revision = phase, msg, w.rev.Hash
	ready := "False"
	switch phase {
	case PhaseReady:
		ready = "True"
	case PhasePending, PhaseSuspended:
		ready = "Unknown"
	}
	readyMsg := msg
	if phase == PhaseReady {
		readyMsg = ""
	}
	changed = setCondition(s, ConditionReady, ready, reason, readyMsg, now) || changed
	if err != nil {
		changed = setCondition(s, ConditionSynced, "False", reason, err.Error(), now) || changed
	} else if phase != PhasePending && phase != PhaseSuspended {
		changed = setCondition(s, ConditionSynced, "True", "Succeeded", "", now) || changed
	}
	// Observers hear the first phase of this run even when a restored
	// status had it already.
	tell := before != phase || !st.phaseTold
	st.phaseTold, st.restoredOnly = true, false
	var dependents []Ref
	if blocking(before) && !blocking(phase) {
		dependents = st.rdeps
	}
	e.mu.Unlock()
	if changed {
		e.notify()
	}
	if tell {
		e.phaseChanged(w.ref, phase)
	}
	for _, r := range dependents {
		e.q.Add(r)
	}
}

// setCondition sets one condition, keeping its transition time unless the
// status changed; it reports whether anything changed.
func setCondition(s *ObjectStatus, typ, status, reason, msg string, now time.Time) bool {
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = now.UTC().Truncate(time.Second)
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return true
	}
	s.Conditions = append(s.Conditions, Condition{Type: typ, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: now.UTC().Truncate(time.Second)})
	if len(s.Conditions) == 2 && s.Conditions[0].Type > s.Conditions[1].Type {
		s.Conditions[0], s.Conditions[1] = s.Conditions[1], s.Conditions[0]
	}
	return true
}
