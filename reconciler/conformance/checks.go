package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// step is one check of a case; before, when set, runs first (Case.Drift).
type step struct {
	name   string
	before func(t *testing.T)
	check  func(ctx context.Context) error
}

// steps lists the checks of one case, in the order they build on each other.
func (s *subject) steps() []step {
	out := []step{
		{name: "absent", check: s.checkAbsent},
		{name: "create", check: s.checkCreate},
		{name: "create again", check: s.checkCreateAgain},
		{name: "update", check: s.checkUpdate},
	}
	if s.drift != nil {
		out = append(out, step{name: "drift", before: s.drift, check: s.checkDriftRepaired})
	}
	return append(out, step{name: "delete", check: s.checkDelete})
}
func (s *subject) checkAbsent(ctx context.Context) error {
	if err := s.wantAbsent(ctx, s.createReq(), "before create"); err != nil {
		return err
	}
	return s.wantOwned(ctx, s.set, 0, "before create")
}

func (s *subject) checkCreate(ctx context.Context) error {
	req := s.createReq()
	ch, err := s.plan(ctx, req, reconciler.ActionCreate, "before create")
	if err != nil {
		return err
	}
	if err := s.p.Apply(ctx, req, ch); err != nil {
		return fmt.Errorf("apply create: %w", err)
	}
	s.settle(ctx, req, ch)
	return s.wantSynced(ctx, req, s.set, "after create")
}

// checkCreateAgain applies the create a second time, as the engine does when
// the first attempt took effect but its answer was lost.
func (s *subject) checkCreateAgain(ctx context.Context) error {
	req := s.createReq()
	ch := reconciler.Decide(s.ref, s.obj, reconciler.Observation{})
	if err := s.p.Apply(ctx, req, ch); err != nil {
		return fmt.Errorf("apply create on an object it already created (must be idempotent): %w", err)
	}
	s.settle(ctx, req, ch)
	return s.wantSynced(ctx, req, s.set, "after a second create")
}

func (s *subject) checkUpdate(ctx context.Context) error {
	req := s.updateReq()
	ch, err := s.plan(ctx, req, reconciler.ActionUpdate, "before update")
	if err != nil {
		return err
	}
	for _, when := range []string{"after update", "after a second update"} {
		if err := s.p.Apply(ctx, req, ch); err != nil {
			return fmt.Errorf("apply update (%s): %w", when, err)
		}
		s.settle(ctx, req, ch)
		if err := s.wantSynced(ctx, req, s.updatedSet, when); err != nil {
			return err
		}
	}
	return nil
}

// DriftVisibleWithin bounds how long after Case.Drift a provider may take to
// see it: one that watches its system (an OVSDB monitor) learns of a
// foreign change asynchronously, a moment after the foreign client is done.
var DriftVisibleWithin = 5 * time.Second

func (s *subject) checkDriftRepaired(ctx context.Context) error {
	req := s.updateReq()
	deadline := time.Now().Add(DriftVisibleWithin)
	var ch reconciler.Change
	for {
		obs, err := s.p.Observe(ctx, req)
		if err != nil {
			return fmt.Errorf("observe after drift: %w", err)
		}
		ch = reconciler.Decide(s.ref, req.Desired, obs)
		if ch.Action != reconciler.ActionNoop || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ch.Action == reconciler.ActionNoop {
		return fmt.Errorf("after drift: plan is %s; the provider does not see the drift", describe(ch))
	}
	if err := s.p.Apply(ctx, req, ch); err != nil {
		return fmt.Errorf("apply %s to repair drift: %w", ch.Action, err)
	}
	s.settle(ctx, req, ch)
	return s.wantSynced(ctx, req, s.updatedSet, "after repairing drift")
}

func (s *subject) checkDelete(ctx context.Context) error {
	req := s.pruneReq(s.updated)
	ch, err := s.plan(ctx, req, reconciler.ActionDelete, "before delete")
	if err != nil {
		return err
	}
	for _, when := range []string{"after delete", "after a second delete"} {
		if err := s.p.Apply(ctx, req, ch); err != nil {
			return fmt.Errorf("apply delete (%s): %w", when, err)
		}
		s.settle(ctx, req, ch)
		if err := s.wantAbsent(ctx, req, when); err != nil {
			return err
		}
	}
	return s.wantOwned(ctx, s.prunedSet, 0, "after delete")
}

// checkBatch creates every subject's object in one ApplyBatch, then deletes
// them all in another, dependents first.
func checkBatch(ctx context.Context, b reconciler.BatchApplier, subjects []*subject) error {
	creates := make([]reconciler.Apply, len(subjects))
	for i, s := range subjects {
		ch, err := s.plan(ctx, s.createReq(), reconciler.ActionCreate, "before batch create")
		if err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
		creates[i] = reconciler.Apply{Req: s.createReq(), Change: ch}
	}
	if err := applyBatch(ctx, b, creates); err != nil {
		return fmt.Errorf("batch create: %w", err)
	}
	for i, s := range subjects {
		s.settle(ctx, creates[i].Req, creates[i].Change)
	}
	for _, s := range subjects {
		if err := s.wantSynced(ctx, s.createReq(), s.set, "after batch create"); err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
	}
	var deletes []reconciler.Apply
	for _, s := range slices.Backward(subjects) {
		req := s.pruneReq(s.obj)
		ch, err := s.plan(ctx, req, reconciler.ActionDelete, "before batch delete")
		if err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
		deletes = append(deletes, reconciler.Apply{Req: req, Change: ch})
	}
	if err := applyBatch(ctx, b, deletes); err != nil {
		return fmt.Errorf("batch delete: %w", err)
	}
	for _, d := range deletes {
		subjects[0].settle(ctx, d.Req, d.Change)
	}
	for _, s := range subjects {
		if err := s.wantAbsent(ctx, s.pruneReq(s.obj), "after batch delete"); err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
		if err := s.wantOwned(ctx, s.prunedSet, 0, "after batch delete"); err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
	}
	return nil
}

// applyBatch runs one ApplyBatch and joins the errors of its items.
func applyBatch(ctx context.Context, b reconciler.BatchApplier, items []reconciler.Apply) error {
	errs := b.ApplyBatch(ctx, items)
	if len(errs) != len(items) {
		return fmt.Errorf("ApplyBatch returned %d errors for %d items, want one per item", len(errs), len(items))
	}
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Errorf("item %d (%s %s): %w", i, items[i].Change.Action, items[i].Req.Ref, err))
		}
	}
	return errors.Join(failed...)
}

// SettleWithin bounds how long after an apply the suite waits for a
// reconciler.Settler's cache to show it, as the engine's confirm does.
var SettleWithin = 5 * time.Second

// settle waits, as the engine's confirm does, until a Settler provider's
// cache shows ch (at most SettleWithin); the checks that follow say
// whether it did.
func (s *subject) settle(ctx context.Context, req reconciler.Request, ch reconciler.Change) {
	_, _ = reconciler.Settle(ctx, s.p, req, ch, SettleWithin)
}

// plan observes the object and returns the engine's change, which must be want.
func (s *subject) plan(ctx context.Context, req reconciler.Request, want reconciler.Action, when string) (reconciler.Change, error) {
	obs, err := s.p.Observe(ctx, req)
	if err != nil {
		return reconciler.Change{}, fmt.Errorf("observe %s: %w", when, err)
	}
	ch := reconciler.Decide(s.ref, req.Desired, obs)
	if ch.Action != want {
		return ch, fmt.Errorf("%s: plan is %s, want %s", when, describe(ch), want)
	}
	return ch, nil
}

// wantSynced checks that the object exists, is owned, and is in sync with
// req.Desired; that observing it changes nothing; and that Owned lists it once.
func (s *subject) wantSynced(ctx context.Context, req reconciler.Request, set *spec.Set, when string) error {
	obs, err := s.observeTwice(ctx, req, when)
	if err != nil {
		return err
	}
	switch ch := reconciler.Decide(s.ref, req.Desired, obs); {
	case !obs.Exists:
		return fmt.Errorf("%s: Observe reports the object absent", when)
	case !obs.Owned:
		return fmt.Errorf("%s: Observe reports the object not owned; what a provider creates carries the ownership marker", when)
	case obs.Pending != "":
		return fmt.Errorf("%s: Observe reports it Pending (%s); Case.Prepare must make what it needs", when, obs.Pending)
	case ch.Action != reconciler.ActionNoop:
		return fmt.Errorf("%s: plan is %s, want no-op (Live must hold what the live system has; the engine fills in the placement fields and orders the sets)", when, describe(ch))
	}
	return s.wantOwned(ctx, set, 1, when)
}

// wantAbsent checks that Observe reports the object absent, twice alike.
func (s *subject) wantAbsent(ctx context.Context, req reconciler.Request, when string) error {
	obs, err := s.observeTwice(ctx, req, when)
	if err != nil {
		return err
	}
	if obs.Exists {
		return fmt.Errorf("%s: Observe reports the object present (owned: %t), want absent", when, obs.Owned)
	}
	return nil
}

// observeTwice observes req twice and checks both observations are equal,
// since Observe must not change anything.
func (s *subject) observeTwice(ctx context.Context, req reconciler.Request, when string) (reconciler.Observation, error) {
	first, err := s.p.Observe(ctx, req)
	if err != nil {
		return first, fmt.Errorf("observe %s: %w", when, err)
	}
	second, err := s.p.Observe(ctx, req)
	if err != nil {
		return first, fmt.Errorf("observe %s, a second time: %w", when, err)
	}
	if d := cmp.Diff(first, second); d != "" {
		return first, fmt.Errorf("%s: two Observes in a row differ; Observe must not change anything (-first +second):\n%s", when, d)
	}
	return first, nil
}

// wantOwned checks that Owned(set) lists the object n times.
func (s *subject) wantOwned(ctx context.Context, set *spec.Set, n int, when string) error {
	refs, err := s.p.Owned(ctx, set)
	if err != nil {
		return fmt.Errorf("owned %s: %w", when, err)
	}
	if got := countOf(refs, s.ref); got != n {
		return fmt.Errorf("%s: Owned lists %s %d times, want %d (Owned: %v)", when, s.ref, got, n, refs)
	}
	return nil
}

func countOf(refs []reconciler.Ref, ref reconciler.Ref) int {
	n := 0
	for _, r := range refs {
		if r == ref {
			n++
		}
	}
	return n
}

// describe renders a change for failure messages: action, reason and diff.
func describe(ch reconciler.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", ch.Action, ch.Reason)
	for _, d := range ch.Diff {
		b.WriteString("; " + d.String())
	}
	return b.String()
}
