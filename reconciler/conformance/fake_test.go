package conformance

import (
	"context"
	"errors"
	"reflect"
	"sync"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// defect is one way a provider breaks the contract; the suite must catch each.
type defect string

const (
	healthy              defect = "healthy"
	createDoesNothing    defect = "create does nothing"
	createNotIdempotent  defect = "create of an existing object fails"
	createDuplicates     defect = "create adds a second object"
	observeCreates       defect = "observe of an absent object creates it"
	observeUnstable      defect = "observe differs each time"
	leavesPlacement      defect = "observe leaves out manager and policy, which the engine fills in: not a defect"
	notOwned             defect = "created objects are not owned"
	ownedOmits           defect = "owned lists nothing"
	observeEchoesDesired defect = "observe returns the desired spec, not the live one"
	updateIgnored        defect = "update does nothing"
	deleteDoesNothing    defect = "delete does nothing"
	deleteAbsentFails    defect = "delete of an absent object fails"
	batchShort           defect = "batch returns one error too few"
	batchSkipsDeletes    defect = "batch ignores deletes"
)

// fake is a provider of Bridges and Mirrors kept in a map, with one defect
// switched on. Like a real OVSDB, it does not record the manager or the
// policy; Observe copies them from the request. Each create appends a live
// copy, so that a provider that duplicates objects can be modelled.
type fake struct {
	defect defect

	mu       sync.Mutex
	live     map[reconciler.Ref][]any
	observed int
}

func newFake(d defect) *fake { return &fake{defect: d, live: map[reconciler.Ref][]any{}} }

func (f *fake) Name() string    { return "fake" }
func (f *fake) Kinds() []string { return []string{"Bridge", "Mirror"} }

func (f *fake) Observe(_ context.Context, req reconciler.Request) (reconciler.Observation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observed++
	var obs reconciler.Observation
	if f.defect == observeUnstable {
		obs.Degraded = string(rune('a' + f.observed%26))
	}
	copies := f.live[req.Ref]
	if len(copies) == 0 {
		if f.defect == observeCreates && req.Desired != nil {
			f.live[req.Ref] = []any{recorded(req.Desired.Spec)}
		}
		return obs, nil
	}
	obs.Exists, obs.Owned = true, f.defect != notOwned
	from := req.Desired
	if from == nil {
		from = req.Last
	}
	switch f.defect {
	case observeEchoesDesired:
		obs.Live = mustCopy(from.Spec)
	case leavesPlacement:
		obs.Live = mustCopy(copies[0])
	default:
		obs.Live = mustCopy(copies[0])
		copyFields(obs.Live, from.Spec, "Manager", "Policy")
	}
	return obs, nil
}

func (f *fake) Apply(_ context.Context, req reconciler.Request, ch reconciler.Change) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	exists := len(f.live[req.Ref]) > 0
	switch ch.Action {
	case reconciler.ActionCreate:
		switch {
		case f.defect == createDoesNothing:
		case exists && f.defect == createNotIdempotent:
			return errors.New("fake: already exists")
		case exists && f.defect == createDuplicates:
			f.live[req.Ref] = append(f.live[req.Ref], recorded(req.Desired.Spec))
		default:
			f.live[req.Ref] = []any{recorded(req.Desired.Spec)}
		}
	case reconciler.ActionUpdate:
		if f.defect != updateIgnored {
			f.live[req.Ref] = []any{recorded(req.Desired.Spec)}
		}
	case reconciler.ActionDelete:
		switch {
		case !exists && f.defect == deleteAbsentFails:
			return errors.New("fake: no such object")
		case f.defect != deleteDoesNothing:
			delete(f.live, req.Ref)
		}
	default:
		return errors.New("fake: unexpected action " + string(ch.Action))
	}
	return nil
}

func (f *fake) Owned(context.Context, *spec.Set) ([]reconciler.Ref, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []reconciler.Ref
	if f.defect == ownedOmits || f.defect == notOwned {
		return nil, nil
	}
	for ref, copies := range f.live {
		for range copies {
			out = append(out, ref)
		}
	}
	return out, nil
}

func (f *fake) ApplyBatch(ctx context.Context, items []reconciler.Apply) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		if f.defect == batchSkipsDeletes && it.Change.Action == reconciler.ActionDelete {
			continue
		}
		errs[i] = f.Apply(ctx, it.Req, it.Change)
	}
	if f.defect == batchShort {
		return errs[:len(errs)-1]
	}
	return errs
}

// mutate changes the live object as a foreign client would.
func (f *fake) mutate(ref reconciler.Ref, change func(s any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.live[ref] {
		change(s)
	}
}

// recorded is what the fake live system keeps of a spec: all but the
// manager and the policy.
func recorded(s any) any {
	c := mustCopy(s)
	v := reflect.ValueOf(c).Elem()
	for _, name := range []string{"Manager", "Policy"} {
		if f := v.FieldByName(name); f.IsValid() {
			f.SetZero()
		}
	}
	return c
}

func copyFields(dst, src any, names ...string) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for _, name := range names {
		if f := d.FieldByName(name); f.IsValid() {
			f.Set(s.FieldByName(name))
		}
	}
}

func mustCopy(s any) any {
	c, err := copySpec(s)
	if err != nil {
		panic(err)
	}
	return c
}
