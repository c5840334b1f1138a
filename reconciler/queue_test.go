package reconciler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestQueueDeduplicatesAndNeverHandsOutAKeyTwice(t *testing.T) {
	q := newQueue(time.Now)
	a, b := Ref{"Mirror", "a"}, Ref{"Mirror", "b"}
	q.Add(a)
	q.Add(b)
	q.Add(a) // collapses into the pending a
	if got := q.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}
	k, _ := q.Get()
	if k != a {
		t.Fatalf("first key = %v, want %v", k, a)
	}
	q.Add(a) // while a is processed: not ready again until Done
	k2, _ := q.Get()
	if k2 != b {
		t.Fatalf("second key = %v, want %v (a is still held)", k2, b)
	}
	if got := q.Len(); got != 0 {
		t.Fatalf("Len while a is held = %d, want 0", got)
	}
	q.Done(a)
	k3, _ := q.Get()
	if k3 != a {
		t.Fatalf("after Done, key = %v, want %v again", k3, a)
	}
	q.Done(a)
	q.Done(b)
	q.ShutDown()
	if _, ok := q.Get(); ok {
		t.Error("Get after ShutDown handed out a key")
	}
}

func TestQueueAddAfterKeepsTheEarliestTime(t *testing.T) {
	q := newQueue(time.Now)
	defer q.ShutDown()
	a := Ref{"Bridge", "a"}
	q.AddAfter(a, time.Hour)
	q.AddAfter(a, 10*time.Millisecond) // an earlier requeue wins
	q.AddAfter(a, time.Hour)           // a later one does not postpone it
	got := make(chan Ref)
	go func() { k, _ := q.Get(); got <- k }()
	select {
	case k := <-got:
		if k != a {
			t.Errorf("got %v", k)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("delayed key never became ready")
	}
}

func TestBackoffDoublesCapsAndForgets(t *testing.T) {
	b := newBackoff(time.Second, 5*time.Minute)
	k := Ref{"Mirror", "m"}
	var got []time.Duration
	for range 12 {
		got = append(got, b.Next(k))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i, w := range want {
		w *= time.Second
		if lo, hi := w*9/10, w*11/10; got[i] < lo || got[i] > hi {
			t.Errorf("attempt %d: %v, want %v ±10%%", i+1, got[i], w)
		}
	}
	b.Forget(k)
	if d := b.Next(k); d > 1100*time.Millisecond {
		t.Errorf("after Forget: %v, want about 1s", d)
	}
}

func TestDiffSpecs(t *testing.T) {
	type inner struct {
		Port string `json:"port,omitempty"`
		VLAN *int   `json:"vlan,omitempty"`
	}
	type kind struct {
		Name   string            `json:"name"`
		Ports  []string          `json:"ports,omitempty"`
		IDs    map[string]string `json:"ids,omitempty"`
		Output *inner            `json:"output"`
		Policy string            `json:"policy,omitempty"`
	}
	seven := 7
	tests := []struct {
		name     string
		from, to any
		want     []FieldDiff
	}{
		{"equal", &kind{Name: "a"}, &kind{Name: "a"}, nil},
		{"empty and absent are equal", &kind{Ports: []string{}}, &kind{}, nil},
		{"scalar", &kind{Name: "a"}, &kind{Name: "b"}, []FieldDiff{{"spec.name", "a", "b"}}},
		{"list whole", &kind{Ports: []string{"p1"}}, &kind{Ports: []string{"p1", "p2"}},
			[]FieldDiff{{"spec.ports", []string{"p1"}, []string{"p1", "p2"}}}},
		{"map by key", &kind{IDs: map[string]string{"a": "1", "b": "2"}}, &kind{IDs: map[string]string{"a": "1", "c": "3"}},
			[]FieldDiff{{"spec.ids.b", "2", nil}, {"spec.ids.c", nil, "3"}}},
		{"nested pointer", &kind{Output: &inner{Port: "tap0"}}, &kind{Output: &inner{VLAN: &seven}},
			[]FieldDiff{{"spec.output.port", "tap0", nil}, {"spec.output.vlan", nil, 7}}},
		{"zero behind a pointer is a value", &kind{Output: &inner{}}, &kind{Output: &inner{VLAN: new(int)}},
			[]FieldDiff{{"spec.output.vlan", nil, 0}}},
		{"from nothing", nil, &kind{Name: "a", Policy: "observe"},
			[]FieldDiff{{"spec.name", nil, "a"}, {"spec.policy", nil, "observe"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, DiffSpecs(tt.from, tt.to)); diff != "" {
				t.Errorf("DiffSpecs (-want +got):\n%s", diff)
			}
		})
	}
	// Against the live system, policy is the engine's business, not a difference.
	if d := diffSpecs(&kind{Name: "a", Policy: "enforce"}, &kind{Name: "a", Policy: "observe"}, true); len(d) != 0 {
		t.Errorf("live diff includes policy: %v", d)
	}
}

func TestDecide(t *testing.T) {
	type s struct {
		Port string `json:"port"`
	}
	r := Ref{"Mirror", "m"}
	tests := []struct {
		name    string
		desired bool
		obs     Observation
		want    Action
	}{
		{"absent", true, Observation{}, ActionCreate},
		{"equal", true, Observation{Exists: true, Owned: true, Live: &s{"a"}}, ActionNoop},
		{"differs", true, Observation{Exists: true, Owned: true, Live: &s{"b"}}, ActionUpdate},
		{"removed and owned", false, Observation{Exists: true, Owned: true, Live: &s{"a"}}, ActionDelete},
		{"removed, not owned", false, Observation{Exists: true, Live: &s{"a"}}, ActionNoop},
		{"removed and gone", false, Observation{}, ActionNoop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var desired *specObject
			if tt.desired {
				desired = &specObject{Kind: "Mirror", Spec: &s{"a"}}
			}
			if got := Decide(r, desired, tt.obs); got.Action != tt.want {
				t.Errorf("Decide = %s (%s), want %s", got.Action, got.Reason, tt.want)
			}
		})
	}
}
