// Package workerset keeps the workers a provider runs, one per object of
// its kind (a collector per CollectorTarget, an exporter per
// SkyDiveExport), by object name, and carries a worker's "look at my
// object again" to the engine. The provider keeps what is its own: how a
// worker starts, stops and reports.
package workerset

import (
	"cmp"
	"slices"
	"sync"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// Set is the running workers of one kind, by object name. Its methods are
// safe for concurrent use. It neither starts nor stops workers: a caller
// stops what Remove or RemoveAll hands back, after the call, so that a
// slow stop holds no lock.
type Set[W any] struct {
	kind string

	mu      sync.Mutex
	workers map[string]W
	// events is where Notify reports to the engine.
	events *reconciler.Events
}

// New returns an empty set for the objects of kind, whose Notify reports
// to events (nil: nowhere).
func New[W any](kind string, events *reconciler.Events) *Set[W] {
	return &Set[W]{kind: kind, workers: map[string]W{}, events: events}
}

// Get returns the worker of the object name, and whether there is one.
func (s *Set[W]) Get(name string) (W, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workers[name]
	return w, ok
}

// Put makes w the worker of the object name. From then on other
// goroutines may Get it, so what they read of w is set before Put. A
// worker it replaces is dropped without being stopped: callers Remove the
// old one first.
func (s *Set[W]) Put(name string, w W) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workers[name] = w
}

// Remove takes the worker of the object name out of the set and returns
// it, for the caller to stop; ok is false when there was none.
func (s *Set[W]) Remove(name string) (w W, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok = s.workers[name]
	delete(s.workers, name)
	return w, ok
}

// RemoveAll empties the set and returns every worker it held, by object
// name, for the caller to stop.
func (s *Set[W]) RemoveAll() []W {
	s.mu.Lock()
	ws := s.workers
	s.workers = map[string]W{}
	s.mu.Unlock()
	return sortedByName(ws)
}

// All returns the workers, by object name: a snapshot, which a worker
// removed meanwhile may still be in.
func (s *Set[W]) All() []W {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedByName(s.workers)
}

// Refs returns the refs of the objects that have a worker, sorted by
// name: what a provider's Owned reports.
func (s *Set[W]) Refs() []reconciler.Ref {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]reconciler.Ref, 0, len(s.workers))
	for name := range s.workers {
		out = append(out, reconciler.Ref{Kind: s.kind, Name: name})
	}
	slices.SortFunc(out, func(a, b reconciler.Ref) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Notify asks the engine to reconcile the object name again (its worker's
// status changed). It never blocks.
func (s *Set[W]) Notify(name string) { s.events.Changed(reconciler.Ref{Kind: s.kind, Name: name}) }

// sortedByName returns the workers of ws in the order of their names.
func sortedByName[W any](ws map[string]W) []W {
	names := make([]string, 0, len(ws))
	for name := range ws {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]W, len(names))
	for i, name := range names {
		out[i] = ws[name]
	}
	return out
}
