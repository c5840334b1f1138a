package workerset_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/workerset"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// worker stands for a provider's worker; the set only stores it.
type worker struct{ ID string }

func TestSet(t *testing.T) {
	a, b, b2, c := &worker{"a"}, &worker{"b"}, &worker{"b2"}, &worker{"c"}
	// op changes the set; each case's ops run on a new set.
	type op func(s *workerset.Set[*worker])
	put := func(name string, w *worker) op { return func(s *workerset.Set[*worker]) { s.Put(name, w) } }
	remove := func(name string) op { return func(s *workerset.Set[*worker]) { s.Remove(name) } }
	ref := func(name string) reconciler.Ref { return reconciler.Ref{Kind: "Thing", Name: name} }
	tests := []struct {
		name     string
		ops      []op
		wantAll  []*worker
		wantRefs []reconciler.Ref
		wantB    *worker // what Get("b") returns, nil for none
	}{
		{name: "empty", wantAll: []*worker{}, wantRefs: []reconciler.Ref{}},
		{
			name:     "sorted by name whatever the order of puts",
			ops:      []op{put("c", c), put("a", a), put("b", b)},
			wantAll:  []*worker{a, b, c},
			wantRefs: []reconciler.Ref{ref("a"), ref("b"), ref("c")},
			wantB:    b,
		},
		{
			name:     "put replaces",
			ops:      []op{put("b", b), put("b", b2)},
			wantAll:  []*worker{b2},
			wantRefs: []reconciler.Ref{ref("b")},
			wantB:    b2,
		},
		{
			name:     "remove",
			ops:      []op{put("a", a), put("b", b), remove("b")},
			wantAll:  []*worker{a},
			wantRefs: []reconciler.Ref{ref("a")},
		},
		{
			name:     "remove of an absent name",
			ops:      []op{put("a", a), remove("b")},
			wantAll:  []*worker{a},
			wantRefs: []reconciler.Ref{ref("a")},
		},
		{
			name:     "put after remove",
			ops:      []op{put("b", b), remove("b"), put("b", b2)},
			wantAll:  []*worker{b2},
			wantRefs: []reconciler.Ref{ref("b")},
			wantB:    b2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := workerset.New[*worker]("Thing", nil)
			for _, o := range tt.ops {
				o(s)
			}
			if d := cmp.Diff(tt.wantAll, s.All()); d != "" {
				t.Errorf("All (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantRefs, s.Refs()); d != "" {
				t.Errorf("Refs (-want +got):\n%s", d)
			}
			got, ok := s.Get("b")
			if got != tt.wantB || ok != (tt.wantB != nil) {
				t.Errorf("Get(b) = %v, %t; want %v, %t", got, ok, tt.wantB, tt.wantB != nil)
			}
		})
	}
}

func TestRemoveReturnsTheWorker(t *testing.T) {
	s := workerset.New[*worker]("Thing", nil)
	a := &worker{"a"}
	s.Put("a", a)
	if w, ok := s.Remove("a"); w != a || !ok {
		t.Errorf("Remove(a) = %v, %t; want %v, true", w, ok, a)
	}
	if w, ok := s.Remove("a"); w != nil || ok {
		t.Errorf("Remove(a) again = %v, %t; want nil, false", w, ok)
	}
}

func TestRemoveAll(t *testing.T) {
	s := workerset.New[*worker]("Thing", nil)
	a, b := &worker{"a"}, &worker{"b"}
	s.Put("b", b)
	s.Put("a", a)
	if d := cmp.Diff([]*worker{a, b}, s.RemoveAll()); d != "" {
		t.Errorf("RemoveAll (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]*worker{}, s.All()); d != "" {
		t.Errorf("All after RemoveAll (-want +got):\n%s", d)
	}
	s.Put("a", a) // the set is usable again
	if w, ok := s.Get("a"); w != a || !ok {
		t.Errorf("Get(a) after RemoveAll and Put = %v, %t; want %v, true", w, ok, a)
	}
}

// TestNotify checks that Notify reaches the engine through the set's
// Events, as the object of the set's kind, and that a set without Events
// drops it.
func TestNotify(t *testing.T) {
	events := reconciler.NewEvents()
	s := workerset.New[*worker]("Thing", events)
	var got []reconciler.Ref
	detach := events.Attach(func(r reconciler.Ref) { got = append(got, r) })
	s.Notify("a")
	s.Notify("b")
	detach()
	s.Notify("after") // nobody receives any more: dropped
	workerset.New[*worker]("Thing", nil).Notify("nowhere")
	if d := cmp.Diff([]reconciler.Ref{{Kind: "Thing", Name: "a"}, {Kind: "Thing", Name: "b"}}, got); d != "" {
		t.Errorf("reported (-want +got):\n%s", d)
	}
}

// TestConcurrentUse runs every method at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	events := reconciler.NewEvents()
	events.Attach(func(reconciler.Ref) {})
	s := workerset.New[*worker]("Thing", events)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprint("w", (g+i)%5)
				s.Put(name, &worker{name})
				s.Get(name)
				s.All()
				s.Refs()
				s.Notify(name)
				s.Remove(name)
				if i%50 == 0 {
					s.RemoveAll()
				}
			}
		})
	}
	wg.Wait()
}
