package reconciler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wirekeeper/wirekeeper/spec"
)

// work is one reconcile of one object, with everything read under the lock.
type work struct {
	ref      Ref
	st       *objectState
	desired  *spec.Object
	last     *spec.Object
	set      *spec.Set
	rev      Revision
	provider Provider
}

// step is one object's reconcile within a pass: prepared (observed and
// decided), then, when a change is to be applied, applied with the other
// changes of the pass for the same provider, then confirmed.
type step struct {
	w      work
	req    Request
	ch     Change
	policy spec.Policy
	// apply is set when the change is to be carried out; otherwise result
	// and after are final.
	apply  bool
	result string
	after  time.Duration
}

// processBatch reconciles the keys of one pass and schedules their next
// visits. Changes for a provider that is a BatchApplier go to it in one
// call, so that it can make one round trip (one OVSDB transaction per
// manager) for the whole pass.
func (e *Engine) processBatch(ctx context.Context, refs []Ref) {
	start := e.opts.Now()
	steps := make([]*step, len(refs))
	for i, ref := range refs {
		steps[i] = e.prepare(ctx, ref)
	}
	e.applyAll(ctx, steps)
	took := e.opts.Now().Sub(start)
	for _, s := range steps {
		ref := s.req.Ref
		if e.opts.Hooks.Reconciled != nil {
			e.opts.Hooks.Reconciled(ref.Kind, s.result, took)
		}
		switch {
		case s.result == "error":
			e.q.AddAfter(ref, e.backoff.Next(ref))
		case s.after > 0:
			e.backoff.Forget(ref)
			e.q.AddAfter(ref, Jitter(s.after, 0.1))
		default:
			e.backoff.Forget(ref)
		}
	}
}

// applyAll carries out the steps that have a change, grouped by provider,
// and confirms each.
func (e *Engine) applyAll(ctx context.Context, steps []*step) {
	var order []Provider
	groups := map[Provider][]*step{}
	for _, s := range steps {
		if !s.apply {
			continue
		}
		p := s.w.provider
		if _, seen := groups[p]; !seen {
			order = append(order, p)
		}
		groups[p] = append(groups[p], s)
	}
	for _, p := range order {
		group := groups[p]
		errs := make([]error, len(group))
		if bp, ok := p.(BatchApplier); ok {
			items := make([]Apply, len(group))
			for i, s := range group {
				items[i] = Apply{Req: s.req, Change: s.ch}
			}
			got := bp.ApplyBatch(ctx, items)
			if len(got) != len(items) {
				err := fmt.Errorf("provider %s returned %d results for %d changes", p.Name(), len(got), len(items))
				for i := range errs {
					errs[i] = err
				}
			} else {
				copy(errs, got)
			}
		} else {
			for i, s := range group {
				errs[i] = p.Apply(ctx, s.req, s.ch)
			}
		}
		for i, s := range group {
			s.result, s.after = e.confirm(ctx, s, errs[i])
		}
	}
}

// prepare runs observe -> plan for ref and decides what to do: a step
// with apply set, or a final result for metrics ("ok", "error", "pending",
// "skipped") and when to look again (0: only when something enqueues it).
func (e *Engine) prepare(ctx context.Context, ref Ref) *step {
	s := &step{req: Request{Ref: ref}}
	w, ok := e.load(ref)
	if !ok {
		s.result = "skipped"
		return s
	}
	s.w = w
	s.req = Request{Ref: ref, Desired: w.desired, Last: w.last, Set: w.set, Revision: w.rev.Hash}
	s.result, s.after = e.plan(ctx, s)
	return s
}

func (e *Engine) plan(ctx context.Context, s *step) (string, time.Duration) {
	w, ref := s.w, s.req.Ref
	if w.provider == nil {
		e.setPhase(w, PhasePending, "NoProvider", fmt.Sprintf("no provider for kind %s is built into this wirekeeper", ref.Kind), nil)
		return "pending", 0
	}
	if w.desired != nil && w.desired.Suspended() {
		e.setPhase(w, PhaseSuspended, "Suspended", "paused by the "+spec.AnnotationSuspend+" annotation", nil)
		return "skipped", 0
	}
	if waiting := e.waitingFor(w); waiting != "" {
		e.setPhase(w, PhasePending, "Waiting", waiting, nil)
		return "pending", e.opts.BackoffBase * 5
	}
	obs, err := w.provider.Observe(ctx, s.req)
	if err != nil {
		e.setPhase(w, PhaseFailed, "ObserveFailed", fmt.Sprintf("cannot observe: %v", err), err)
		return "error", 0
	}
	s.policy = spec.PolicyEnforce
	if o := w.object(); o != nil {
		s.policy = o.Policy()
	}
	ch, v, adopting := judge(ref, w.desired, obs, s.policy)
	switch v {
	case verdictRemoveStale:
		// The live object outlived what it was made for: remove it now,
		// and wait (in confirm) for the prerequisite to come back.
		s.ch, s.apply = ch, true
		return "", 0
	case verdictWaiting:
		return e.waitForLive(w, obs)
	case verdictNoop:
		if w.desired == nil {
			e.forget(w)
			return "ok", 0
		}
		e.converged(w, obs, false)
		return "ok", e.opts.Resync
	case verdictInTheWay:
		e.setPhase(w, PhaseDegraded, "UnmanagedObjectInTheWay", fmt.Sprintf(
			"a live %s named %q exists that wirekeeper did not create; it is left alone: remove it, or rename the object in the spec", ref.Kind, ref.Name), nil)
		return "pending", e.opts.Resync
	}
	if adopting {
		e.noteAdoption(w, ch, s.policy)
	} else if w.desired != nil {
		e.noteDrift(w, ch, obs, s.policy)
	}
	if v == verdictObserve {
		msg := describe(ch) + "; policy observe: reported, not changed"
		if adopting {
			msg = fmt.Sprintf("a live %s of that name exists that wirekeeper did not create; policy observe: not adopted", ref.Kind)
		}
		e.setPhase(w, PhaseDrifted, "ObservePolicy", msg, nil)
		return "ok", e.opts.Resync
	}
	s.ch, s.apply = ch, true
	return "", 0
}

// confirm records the outcome of an apply and checks with the live system
// that it took effect.
func (e *Engine) confirm(ctx context.Context, s *step, err error) (string, time.Duration) {
	w, ref, ch := s.w, s.req.Ref, s.ch
	if e.opts.Hooks.Applied != nil {
		e.opts.Hooks.Applied(ref.Kind, ch.Action, err)
	}
	if err != nil {
		e.setPhase(w, PhaseFailed, "ApplyFailed", fmt.Sprintf("cannot %s: %v", ch.Action, err), err)
		return "error", 0
	}
	e.log.Info("applied", "object", ref.String(), "action", string(ch.Action), "reason", ch.Reason, "revision", w.rev.Short())

	// Confirm: the apply counts only when the live system says so.
	obs, err := Settle(ctx, w.provider, s.req, ch, e.opts.SettleTimeout)
	if err != nil {
		e.setPhase(w, PhaseFailed, "ObserveFailed", fmt.Sprintf("applied, but cannot confirm: %v", err), err)
		return "error", 0
	}
	if w.desired != nil && obs.Pending != "" {
		return e.waitForLive(w, obs)
	}
	confirm := Decide(ref, w.desired, obs)
	if confirm.Action != ActionNoop {
		e.setPhase(w, PhaseDegraded, "NotConverged", "applied, but "+describe(confirm), nil)
		return "error", 0
	}
	if w.desired == nil {
		e.forget(w)
		return "ok", 0
	}
	e.converged(w, obs, true)
	return "ok", e.opts.Resync
}

// Settle observes req on p after ch was applied to it. For a Settler it
// observes again at each change of p's cache until the object shows ch (or
// waits for a live prerequisite), at most timeout: the cache shows a write
// a moment after it returns. Other providers are observed once. The
// engine's confirm and the conformance suite both settle this way.
func Settle(ctx context.Context, p Provider, req Request, ch Change, timeout time.Duration) (Observation, error) {
	settler, _ := p.(Settler)
	var deadline <-chan time.Time
	for {
		var wake <-chan struct{}
		if settler != nil {
			wake = settler.Changed() // before the observe: no change is missed
		}
		obs, err := p.Observe(ctx, req)
		if err != nil || settler == nil || shows(req, ch, obs) {
			return obs, err
		}
		if deadline == nil {
			t := time.NewTimer(timeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-wake:
		case <-deadline:
			return obs, nil
		case <-ctx.Done():
			return obs, nil
		}
	}
}

// shows reports whether obs shows the change ch applied for req.
func shows(req Request, ch Change, obs Observation) bool {
	if ch.Action == ActionDelete {
		return !obs.Exists
	}
	if req.Desired != nil && obs.Pending != "" {
		return true
	}
	return obs.Exists && obs.Owned && Decide(req.Ref, req.Desired, obs).Action == ActionNoop
}

// waitForLive reports an object whose live prerequisite is missing as
// Pending, until the provider's watch enqueues it (or the resync).
func (e *Engine) waitForLive(w work, obs Observation) (string, time.Duration) {
	e.setUnmanaged(w, obs.Unmanaged, obs.Details)
	e.setPhase(w, PhasePending, "WaitingForLiveObject", obs.Pending, nil)
	return "pending", e.opts.Resync
}

// object is the spec object the work is about: desired, or last for a prune.
func (w *work) object() *spec.Object {
	if w.desired != nil {
		return w.desired
	}
	return w.last
}

// describe says what a change would do, for status messages.
func describe(ch Change) string {
	switch ch.Action {
	case ActionCreate:
		return "absent from the live system"
	case ActionDelete:
		return "removed from git but still in the live system"
	case ActionUpdate:
		parts := make([]string, 0, len(ch.Diff))
		for _, d := range ch.Diff {
			// The plan's diff goes from live to desired.
			parts = append(parts, fmt.Sprintf("%s is %s, want %s", d.Path, FormatValue(d.From), FormatValue(d.To)))
		}
		return "live differs: " + strings.Join(parts, "; ")
	}
	return ch.Reason
}

// load reads what a reconcile of ref needs; ok is false when the engine no
// longer cares about ref.
func (e *Engine) load(ref Ref) (work, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.objects[ref]
	if st == nil || (st.desired == nil && !st.pruning) {
		return work{}, false
	}
	return work{ref: ref, st: st, desired: st.desired, last: st.last, set: e.set, rev: e.rev, provider: e.byKind[ref.Kind]}, true
}

// waitingFor names what ref waits for: for a create or update, a
// dependency not brought into existence yet; for a prune, a pruned object
// that sat on this one and is not removed yet.
func (e *Engine) waitingFor(w work) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w.desired != nil {
		for _, d := range w.st.deps {
			// An object an earlier run left Ready is taken as there until
			// this run has seen it: its dependents need not wait for it
			// (and flip their own Ready condition) after a restart.
			if blocking(d.status.Phase) && !(d.restoredOnly && d.restoredReady != "") {
				return "waiting for " + d.status.Ref().String()
			}
		}
		return ""
	}
	for _, b := range w.st.blockers {
		if b.pruning {
			return "waiting for " + b.status.Ref().String() + " to be removed first"
		}
	}
	return ""
}

// blocking reports whether objects that depend on one in this phase must
// wait: it has not been brought into existence yet.
func blocking(p Phase) bool { return p == PhasePending || p == PhaseFailed || p == "" }

// verdict is what the engine makes of an observed object, before any of
// its side effects (phases, drift records): the daemon's plan and
// PlanLive (`wirekeeper diff`) both act on it.
type verdict int

const (
	verdictApply       verdict = iota // apply the change (create, update, adopt, delete)
	verdictRemoveStale                // remove what is left of an owned object whose prerequisite is gone
	verdictNoop                       // live equals desired
	verdictWaiting                    // a live prerequisite is missing (Observation.Pending)
	verdictInTheWay                   // a live object of that name wirekeeper did not create, not adoptable
	verdictObserve                    // policy observe: the change is reported, not applied
)

// judge decides ref under policy from obs: the change (Decide's, or the
// removal of a stale object), the verdict, and whether the change adopts
// a live object wirekeeper did not create.
func judge(ref Ref, desired *spec.Object, obs Observation, policy spec.Policy) (ch Change, v verdict, adopting bool) {
	if desired != nil && obs.Pending != "" {
		if obs.Stale && obs.Exists && obs.Owned && policy == spec.PolicyEnforce {
			return Change{Ref: ref, Action: ActionDelete, Reason: obs.Pending + "; removing what is left of it"}, verdictRemoveStale, false
		}
		return Change{}, verdictWaiting, false
	}
	ch = Decide(ref, desired, obs)
	if ch.Action == ActionNoop {
		return ch, verdictNoop, false
	}
	adopting = desired != nil && obs.Exists && !obs.Owned && obs.Adoptable
	switch {
	case desired != nil && obs.Exists && !obs.Owned && !adopting:
		return ch, verdictInTheWay, false
	case policy == spec.PolicyObserve:
		return ch, verdictObserve, adopting
	}
	return ch, verdictApply, adopting
}
