package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// subject is one case made ready to check: the object in each of the three
// revisions the suite enforces (created, updated, pruned).
type subject struct {
	p    reconciler.Provider
	name string
	ref  reconciler.Ref
	// obj in set is what the create step brings about.
	obj *spec.Object
	set *spec.Set
	// updated in updatedSet is obj with Case.Update applied.
	updated    *spec.Object
	updatedSet *spec.Set
	// prunedSet is set without the object: the revision that removes it.
	prunedSet *spec.Set
	drift     func(t *testing.T)
}

// newSubject checks the case and derives the updated and pruned revisions.
func newSubject(p reconciler.Provider, c Case) (*subject, error) {
	if c.Set == nil {
		return nil, errors.New("the case has no Set")
	}
	obj := c.Set.Get(c.Ref.Kind, c.Ref.Name)
	if obj == nil {
		return nil, fmt.Errorf("%s is not in Set", c.Ref)
	}
	if !slices.Contains(p.Kinds(), c.Ref.Kind) {
		return nil, fmt.Errorf("provider %s does not reconcile kind %s (Kinds: %v)", p.Name(), c.Ref.Kind, p.Kinds())
	}
	if c.Update == nil {
		return nil, errors.New("the case has no Update func")
	}
	updated, err := copyObject(obj)
	if err != nil {
		return nil, err
	}
	c.Update(updated)
	if reconciler.RefOf(updated) != c.Ref {
		return nil, fmt.Errorf("the Update func renamed %s to %s", c.Ref, reconciler.RefOf(updated))
	}
	diff := slices.DeleteFunc(reconciler.DiffSpecs(obj.Spec, updated.Spec), func(d reconciler.FieldDiff) bool {
		return d.Path == "spec.policy" // not part of the live object
	})
	if len(diff) == 0 {
		return nil, fmt.Errorf("the Update func changes nothing in the spec of %s but its policy", c.Ref)
	}
	return &subject{
		p: p, name: c.Name, ref: c.Ref,
		obj: obj, set: c.Set,
		updated: updated, updatedSet: replaced(c.Set, obj, updated),
		prunedSet: replaced(c.Set, obj, nil),
		drift:     c.Drift,
	}, nil
}
func (s *subject) createReq() reconciler.Request {
	return reconciler.Request{Ref: s.ref, Desired: s.obj, Set: s.set, Revision: "conformance-create"}
}

func (s *subject) updateReq() reconciler.Request {
	return reconciler.Request{Ref: s.ref, Desired: s.updated, Last: s.obj, Set: s.updatedSet, Revision: "conformance-update"}
}

// pruneReq removes the object, last enforced as last.
func (s *subject) pruneReq(last *spec.Object) reconciler.Request {
	return reconciler.Request{Ref: s.ref, Last: last, Set: s.prunedSet, Revision: "conformance-prune"}
}

// removeLeftovers deletes the object if a failed check left it live and
// owned, so that a rerun against the same server starts clean.
func (s *subject) removeLeftovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := s.pruneReq(s.updated)
	obs, err := s.p.Observe(ctx, req)
	if err != nil {
		t.Logf("cleanup: observe %s: %v", s.ref, err)
		return
	}
	if ch := reconciler.Decide(s.ref, nil, obs); ch.Action == reconciler.ActionDelete {
		if err := s.p.Apply(ctx, req, ch); err != nil {
			t.Logf("cleanup: delete %s: %v", s.ref, err)
		}
	}
}

// copyObject deep-copies o.
func copyObject(o *spec.Object) (*spec.Object, error) {
	c := *o
	c.Metadata.Labels = maps.Clone(o.Metadata.Labels)
	c.Metadata.Annotations = maps.Clone(o.Metadata.Annotations)
	sp, err := copySpec(o.Spec)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", o.ID(), err)
	}
	c.Spec = sp
	return &c, nil
}

// copySpec deep-copies a spec value (a pointer to a spec type, or nil)
// through JSON, the form specs are written in, which keeps every field.
func copySpec(sp any) (any, error) {
	if sp == nil {
		return nil, nil
	}
	data, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	c := reflect.New(reflect.TypeOf(sp).Elem())
	if err := json.Unmarshal(data, c.Interface()); err != nil {
		return nil, err
	}
	return c.Interface(), nil
}

// replaced returns a new Set with old replaced by repl, or removed when repl is nil.
func replaced(set *spec.Set, old, repl *spec.Object) *spec.Set {
	objs := make([]*spec.Object, 0, len(set.Objects))
	for _, o := range set.Objects {
		switch {
		case o != old:
			objs = append(objs, o)
		case repl != nil:
			objs = append(objs, repl)
		}
	}
	return &spec.Set{Objects: objs}
}
