package reconciler_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Tests of what providers report beyond existence: adoption, live
// prerequisites, foreign objects, and batched applies.

func TestEngineAdoptsAdoptableObjectAndRecordsIt(t *testing.T) {
	h := start(t, nil, nil)
	// A mirror of that name exists, made by someone else, selecting less.
	h.p.PutAdoptable(ref("Mirror", "old"), &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", MirrorName: "old", Output: &spec.MirrorOutput{Port: "tap0"}})
	h.p.PutAdoptable(ref("Mirror", "watched"), &spec.MirrorSpec{Manager: "ovs1", Bridge: "br0", MirrorName: "watched", SelectAll: true, Output: &spec.MirrorOutput{Port: "tap0"}})
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "old", "watched:observe")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/old=Ready", "Mirror/watched=Drifted")
	if got := h.p.Applies(ref("Mirror", "old")); !slices.Equal(got, []reconciler.Action{reconciler.ActionUpdate}) {
		t.Errorf("applies to old = %v, want one update (the adoption)", got)
	}
	owned, _ := h.p.Owned(context.Background(), nil)
	if !slices.Contains(owned, ref("Mirror", "old")) || slices.Contains(owned, ref("Mirror", "watched")) {
		t.Errorf("owned after adoption = %v, want old and not watched", owned)
	}
	if got := h.p.Applies(ref("Mirror", "watched")); len(got) != 0 {
		t.Errorf("observe policy adopted anyway: %v", got)
	}
	st := h.e.Status()
	byName := map[string]reconciler.DriftEvent{}
	for _, d := range st.Drift {
		byName[d.Name] = d
	}
	old := byName["old"]
	if !old.Adopted || !old.Repaired || !strings.HasPrefix(old.Outcome(), "adopted at ") {
		t.Errorf("drift event of old = %+v (outcome %q), want an adoption, done", old, old.Outcome())
	}
	want := []reconciler.FieldDiff{{Path: "owner", From: "wirekeeper"}, {Path: "spec.selectAll", From: true, To: false}}
	if diff := cmp.Diff(want, old.Diff); diff != "" {
		t.Errorf("adoption diff (-want +got):\n%s", diff)
	}
	if w := byName["watched"]; !w.Adopted || w.Repaired || w.Outcome() != "not adopted (policy observe)" {
		t.Errorf("drift event of watched = %+v, want an adoption reported only", w)
	}
	if m := st.Object(ref("Mirror", "watched")).Message; !strings.Contains(m, "not adopted") {
		t.Errorf("watched message = %q", m)
	}
	// The adoption is recorded once, not at every pass.
	h.e.Resync()
	h.waitFor("idle", h.e.Idle)
	if n := len(h.e.Status().Drift); n != 2 {
		t.Errorf("%d drift events after a resync, want 2", n)
	}
}

func TestEnginePendingOnLivePrerequisiteThenApplied(t *testing.T) {
	h := start(t, nil, nil)
	m := ref("Mirror", "m1")
	h.p.SetPending(m, "output port tap0 not found on bridge br0")
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "m1")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Pending")
	o := h.e.Status().Object(m)
	if o.Message != "output port tap0 not found on bridge br0" {
		t.Errorf("message = %q", o.Message)
	}
	if got := h.p.Applies(m); len(got) != 0 {
		t.Errorf("a pending object was applied: %v", got)
	}
	h.p.SetPending(m, "")
	h.p.Notify(m) // the watcher sees the port appear
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Ready")
}

func TestEngineListsUnmanagedObjects(t *testing.T) {
	h := start(t, nil, nil)
	mgr := ref("OVSManager", "ovs1")
	h.p.SetUnmanaged(mgr, "Mirror br0/span-legacy")
	if err := h.setRevision("r1", "", docs(nil)); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready")
	if got := h.e.Status().Object(mgr).Unmanaged; !slices.Equal(got, []string{"Mirror br0/span-legacy"}) {
		t.Errorf("unmanaged = %v", got)
	}
	h.p.SetUnmanaged(mgr)
	select {
	case <-h.e.Changed(): // drain
	default:
	}
	h.p.Notify(mgr)
	h.waitFor("unmanaged list emptied", func() bool { return len(h.e.Status().Object(mgr).Unmanaged) == 0 })
}

// batching wraps the memory provider as a BatchApplier that records the
// size of every batch and can fail chosen objects within one.
type batching struct {
	*memory.Provider
	mu      sync.Mutex
	batches []int
	fail    map[reconciler.Ref]error
}

func (b *batching) ApplyBatch(ctx context.Context, items []reconciler.Apply) []error {
	b.mu.Lock()
	b.batches = append(b.batches, len(items))
	b.mu.Unlock()
	errs := make([]error, len(items))
	for i, it := range items {
		if err := b.fail[it.Req.Ref]; err != nil {
			errs[i] = err
			continue
		}
		errs[i] = b.Apply(ctx, it.Req, it.Change)
	}
	return errs
}

func TestEngineHandsOnePassToBatchApplierInOneCall(t *testing.T) {
	b := &batching{Provider: memory.New("batch"), fail: map[reconciler.Ref]error{
		ref("Mirror", "m7"): errors.New("ovsdb: constraint violation"),
	}}
	e, err := reconciler.New(reconciler.Options{Node: node, Providers: []reconciler.Provider{b}, Workers: 1, Resync: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 40 {
		names = append(names, "m"+string(rune('0'+i/10))+string(rune('0'+i%10)))
	}
	names[7] = "m7"
	// Objects known before Run starts are all ready at once: one pass.
	if err := e.SetRevision(context.Background(), reconciler.Revision{Hash: "r1"}, mustSet(t, docs(nil, names...))); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, p: b.Provider}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h.waitFor("all mirrors applied", func() bool {
		st := e.Status()
		n := 0
		for _, o := range st.Objects {
			if o.Kind == "Mirror" && (o.Phase == reconciler.PhaseReady || o.Phase == reconciler.PhaseFailed) {
				n++
			}
		}
		return n == 40
	})
	b.mu.Lock()
	batches := slices.Clone(b.batches)
	b.mu.Unlock()
	if len(batches) == 0 || slices.Max(batches) < 40 {
		t.Errorf("batch sizes %v, want the 40 mirrors in one ApplyBatch call", batches)
	}
	st := e.Status()
	if o := st.Object(ref("Mirror", "m7")); o.Phase != reconciler.PhaseFailed || !strings.Contains(o.Message, "constraint violation") {
		t.Errorf("m7 = %s %q, want Failed with its own error", o.Phase, o.Message)
	}
	if o := st.Object(ref("Mirror", "m08")); o.Phase != reconciler.PhaseReady {
		t.Errorf("m08 = %s %q: a failure of one item failed another", o.Phase, o.Message)
	}
}
