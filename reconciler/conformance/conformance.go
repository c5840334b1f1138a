// Package conformance is the contract every reconciler.Provider is tested
// against, written once: Observe never writes, every Apply is idempotent,
// what a provider creates carries the ownership marker and observes back in
// sync with its spec, drift is seen and repaired, and a pruned object goes
// away. A provider's tests call Run with a few objects of its kinds, against
// its real server.
package conformance

import (
	"testing"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Case is one object that the provider under test must be able to create,
// observe, update, repair and delete.
type Case struct {
	// Name is the subtest name.
	Name string
	// Set is the revision holding the object and what it refers to (its
	// OVSManager, its Bridge), decoded with defaults filled as in production.
	Set *spec.Set
	// Ref names the object under test. It must be in Set, of one of the
	// provider's Kinds, and absent from the live system when Run starts.
	Ref reconciler.Ref
	// Update changes a deep copy of the object for the update step. It is
	// required, must keep the object's kind and name, and must change a field
	// the live system records.
	Update func(o *spec.Object)
	// Drift, when set, changes the live object behind the provider's back, as
	// a foreign client would; it runs on the updated object.
	Drift func(t *testing.T)
	// Prepare, when set, readies the live system for the case (the bridge a
	// mirror sits on, the container a port plugs into). Every case's Prepare
	// runs once before the first case; what it makes must last until Run
	// returns, so cleanup belongs in t.Cleanup.
	Prepare func(t *testing.T)
}

// Run checks the provider contract for every case, in order, each as
// subtests of Case.Name that stop at the first failure, since every step
// builds on the one before:
//
//   - absent: Observe reports the object absent without error, twice alike,
//     and Owned does not list it;
//   - create: the engine's plan is create; after Apply the object exists,
//     is owned, is not Pending, plans no-op (Live is in sync, fields the
//     live system does not record copied from the desired spec), observes
//     alike twice, and Owned lists it once;
//   - create again: applying the same create is not an error and leaves
//     one object, still in sync;
//   - update: with Case.Update applied, the plan is update with a field
//     diff; after Apply, and after applying it a second time, it plans no-op;
//   - drift (when Case.Drift is set): after Drift the plan is not no-op, and
//     applying it brings the object back in sync;
//   - delete: pruned (no desired object), the plan is delete; after Apply,
//     and after applying it a second time, the object is absent and Owned
//     does not list it.
//
// Then, when p is a reconciler.BatchApplier, subtest "batch" creates every
// case's object in one ApplyBatch call (in case order), checks each in sync,
// and deletes them all in another (in reverse order, dependents first).
// Whatever a failed case leaves behind is deleted, as far as the provider
// can, when the test ends.
func Run(t *testing.T, p reconciler.Provider, cases []Case) {
	t.Helper()
	if len(cases) == 0 {
		t.Fatal("conformance: no cases")
	}
	subjects := make([]*subject, len(cases))
	for i, c := range cases {
		s, err := newSubject(p, c)
		if err != nil {
			t.Fatalf("conformance: case %q: %v", c.Name, err)
		}
		subjects[i] = s
	}
	for _, c := range cases {
		if c.Prepare != nil {
			c.Prepare(t)
		}
	}
	for _, s := range subjects {
		// Registered after Prepare's cleanups, so it runs before them.
		t.Cleanup(func() { s.removeLeftovers(t) })
	}
	ctx := t.Context()
	allPassed := true
	for _, s := range subjects {
		allPassed = t.Run(s.name, func(t *testing.T) {
			for _, st := range s.steps() {
				passed := t.Run(st.name, func(t *testing.T) {
					if st.before != nil {
						st.before(t)
					}
					if err := st.check(ctx); err != nil {
						t.Fatalf("%s %s: %v", p.Name(), s.ref, err)
					}
				})
				if !passed {
					return
				}
			}
		}) && allPassed
	}
	t.Run("batch", func(t *testing.T) {
		b, ok := p.(reconciler.BatchApplier)
		if !ok {
			t.Logf("%s is not a reconciler.BatchApplier; the batch contract does not apply", p.Name())
			return
		}
		if !allPassed {
			t.Skip("a case failed above; the batch check builds on every case passing")
		}
		if err := checkBatch(ctx, b, subjects); err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
	})
}
