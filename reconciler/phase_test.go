package reconciler_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// phaseLog is a provider of no kind that records what the engine tells
// its PhaseObservers.
type phaseLog struct {
	*memory.Provider
	mu    sync.Mutex
	phase map[reconciler.Ref]reconciler.Phase
	heard []string
}

func (l *phaseLog) Kinds() []string { return nil }

func (l *phaseLog) ObjectPhase(ref reconciler.Ref, phase reconciler.Phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if phase == "" {
		delete(l.phase, ref)
	} else {
		l.phase[ref] = phase
	}
	l.heard = append(l.heard, ref.String()+"="+string(phase))
}

func (l *phaseLog) phases() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for r, p := range l.phase {
		out = append(out, r.String()+"="+string(p))
	}
	slices.Sort(out)
	return out
}

func TestEngineTellsPhaseObserversOfChangesAndForgottenObjects(t *testing.T) {
	obs := &phaseLog{Provider: memory.New("observer"), phase: map[reconciler.Ref]reconciler.Phase{}}
	h := start(t, nil, func(o *reconciler.Options) { o.Providers = append(o.Providers, obs) })
	if err := h.setRevision("aaaaaaa1", "init", docs([]string{"br0"}, "m1")); err != nil {
		t.Fatal(err)
	}
	want := []string{"Bridge/br0=Ready", "Mirror/m1=Ready", "OVSManager/ovs1=Ready"}
	h.waitFor("observer hears Ready", func() bool { return cmp.Equal(obs.phases(), want) })
	// An object removed from git is forgotten once pruned.
	if err := h.setRevision("aaaaaaa2", "drop m1", docs([]string{"br0"})); err != nil {
		t.Fatal(err)
	}
	want = []string{"Bridge/br0=Ready", "OVSManager/ovs1=Ready"}
	h.waitFor("observer forgets m1", func() bool { return cmp.Equal(obs.phases(), want) })
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Contains(obs.heard, "Mirror/m1=") {
		t.Errorf("heard %v, want Mirror/m1 forgotten", obs.heard)
	}
	// One report per change: a resync that changes nothing adds none.
	n := len(obs.heard)
	obs.mu.Unlock()
	h.e.Resync()
	h.waitFor("idle", h.e.Idle)
	obs.mu.Lock()
	if len(obs.heard) != n {
		t.Errorf("a resync with nothing to do told the observer %v", obs.heard[n:])
	}
}
