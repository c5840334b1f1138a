// Package memory is a live system kept in memory, implementing
// reconciler.Provider for every kind. It drives the engine's own tests and
// benchmarks, where the engine, not a live system, is under test; every
// real provider is tested against its real server.
package memory

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Provider keeps live objects in memory. Objects it creates are owned;
// Put can add unowned ones. The zero value is not usable; call New.
type Provider struct {
	name  string
	kinds []string

	mu      sync.Mutex
	live    map[reconciler.Ref]*entry
	applies map[reconciler.Ref][]reconciler.Action
	failObs map[reconciler.Ref]error
	failApp map[reconciler.Ref]error
	// ignore makes Apply succeed without changing anything, for objects
	// whose apply "does not take".
	ignore  map[reconciler.Ref]bool
	pending map[reconciler.Ref]string
	foreign map[reconciler.Ref][]string
	delay   time.Duration
	begun   []reconciler.Ref
	order   []reconciler.Ref
	events  *reconciler.Events
	applied chan reconciler.Ref
}

type entry struct {
	spec  any
	owned bool
	// adoptable marks an unowned object the engine may take over.
	adoptable bool
}

// New returns a provider named name that reconciles kinds (all spec kinds
// when none are given).
func New(name string, kinds ...string) *Provider {
	if len(kinds) == 0 {
		for _, k := range spec.Kinds() {
			kinds = append(kinds, k.Name)
		}
	}
	return &Provider{
		name: name, kinds: kinds,
		live:    map[reconciler.Ref]*entry{},
		applies: map[reconciler.Ref][]reconciler.Action{},
		failObs: map[reconciler.Ref]error{},
		failApp: map[reconciler.Ref]error{},
		ignore:  map[reconciler.Ref]bool{},
		pending: map[reconciler.Ref]string{},
		foreign: map[reconciler.Ref][]string{},
		events:  reconciler.NewEvents(),
		applied: make(chan reconciler.Ref, 4096),
	}
}

// Name implements reconciler.Provider.
func (p *Provider) Name() string { return p.name }

// Kinds implements reconciler.Provider.
func (p *Provider) Kinds() []string { return p.kinds }

// Observe implements reconciler.Provider: it returns a copy of the live
// object as it was last applied (the engine takes node, manager and policy
// from the desired spec).
func (p *Provider) Observe(_ context.Context, req reconciler.Request) (reconciler.Observation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failObs[req.Ref]; err != nil {
		return reconciler.Observation{}, err
	}
	e := p.live[req.Ref]
	if e == nil {
		return reconciler.Observation{Pending: p.pending[req.Ref], Unmanaged: p.foreign[req.Ref]}, nil
	}
	live := clone(e.spec)
	return reconciler.Observation{Exists: true, Owned: e.owned, Adoptable: e.adoptable && !e.owned, Live: live,
		Pending: p.pending[req.Ref], Unmanaged: p.foreign[req.Ref]}, nil
}

// Apply implements reconciler.Provider.
func (p *Provider) Apply(_ context.Context, req reconciler.Request, ch reconciler.Change) error {
	p.mu.Lock()
	p.begun = append(p.begun, req.Ref)
	delay := p.delay
	p.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applies[req.Ref] = append(p.applies[req.Ref], ch.Action)
	p.order = append(p.order, req.Ref)
	if err := p.failApp[req.Ref]; err != nil {
		return err
	}
	if p.ignore[req.Ref] {
		return nil
	}
	switch ch.Action {
	case reconciler.ActionCreate, reconciler.ActionUpdate:
		p.live[req.Ref] = &entry{spec: clone(req.Desired.Spec), owned: true}
	case reconciler.ActionDelete:
		delete(p.live, req.Ref)
	default:
		return fmt.Errorf("memory: unexpected action %q", ch.Action)
	}
	select {
	case p.applied <- req.Ref:
	default:
	}
	return nil
}

// Owned implements reconciler.Provider.
func (p *Provider) Owned(context.Context, *spec.Set) ([]reconciler.Ref, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []reconciler.Ref
	for r, e := range p.live {
		if e.owned {
			out = append(out, r)
		}
	}
	return out, nil
}

// Events is where Notify reports: give it to the engine
// (reconciler.Options.Events).
func (p *Provider) Events() *reconciler.Events { return p.events }

// Notify reports that ref changed live, as a watching provider would.
func (p *Provider) Notify(ref reconciler.Ref) { p.events.Changed(ref) }

// Applied receives each ref after a successful create, update or delete.
func (p *Provider) Applied() <-chan reconciler.Ref { return p.applied }

// Put sets a live object (a copy of s, a spec pointer such as
// *spec.MirrorSpec) with the given ownership, as if somebody made it.
func (p *Provider) Put(ref reconciler.Ref, s any, owned bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[ref] = &entry{spec: clone(s), owned: owned}
}

// PutAdoptable sets a live object that wirekeeper did not create but may
// adopt (an unowned object of the same name in the same place).
func (p *Provider) PutAdoptable(ref reconciler.Ref, s any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[ref] = &entry{spec: clone(s), adoptable: true}
}

// SetPending makes Observe of ref report it cannot be brought about yet,
// with msg ("" clears it).
func (p *Provider) SetPending(ref reconciler.Ref, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[ref] = msg
}

// SetUnmanaged makes Observe of ref list foreign live objects under it.
func (p *Provider) SetUnmanaged(ref reconciler.Ref, names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.foreign[ref] = names
}

// Mutate changes a live object in place through f (drift); it reports
// whether the object exists.
func (p *Provider) Mutate(ref reconciler.Ref, f func(s any)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.live[ref]
	if e == nil {
		return false
	}
	f(e.spec)
	return true
}

// Delete removes a live object, as if somebody deleted it.
func (p *Provider) Delete(ref reconciler.Ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, ref)
}

// Live returns a copy of the live object, or nil.
func (p *Provider) Live(ref reconciler.Ref) any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.live[ref]; e != nil {
		return clone(e.spec)
	}
	return nil
}

// Len is the number of live objects.
func (p *Provider) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.live)
}

// FailObserve makes Observe of ref fail with err (nil clears it).
func (p *Provider) FailObserve(ref reconciler.Ref, err error) { p.setErr(p.failObs, ref, err) }

// FailApply makes Apply of ref fail with err (nil clears it).
func (p *Provider) FailApply(ref reconciler.Ref, err error) { p.setErr(p.failApp, ref, err) }

func (p *Provider) setErr(m map[reconciler.Ref]error, ref reconciler.Ref, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		delete(m, ref)
		return
	}
	m[ref] = err
}

// IgnoreApply makes Apply of ref succeed without effect.
func (p *Provider) IgnoreApply(ref reconciler.Ref, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ignore[ref] = on
}

// SetApplyDelay makes every Apply take d, to test in-flight work.
func (p *Provider) SetApplyDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Applies returns the actions applied to ref so far.
func (p *Provider) Applies(ref reconciler.Ref) []reconciler.Action {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]reconciler.Action(nil), p.applies[ref]...)
}

// Begun returns every ref whose apply started, in order (an apply sleeps
// SetApplyDelay after it starts).
func (p *Provider) Begun() []reconciler.Ref {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]reconciler.Ref(nil), p.begun...)
}

// Order returns every applied ref in order, successful or not.
func (p *Provider) Order() []reconciler.Ref {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]reconciler.Ref(nil), p.order...)
}

// clone deep-copies a spec value through reflection.
func clone(s any) any {
	if s == nil {
		return nil
	}
	return deepCopy(reflect.ValueOf(s)).Interface()
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(deepCopy(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if n.Field(i).CanSet() {
				n.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(deepCopy(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			n.SetMapIndex(k, deepCopy(v.MapIndex(k)))
		}
		return n
	}
	return v
}
