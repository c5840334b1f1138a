package reconciler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// lagging is a provider whose observes read a cache that shows an apply
// only when the test says so, as an OVSDB monitor shows a write a moment
// after the transaction returns; Changed tells the engine.
type lagging struct {
	*memory.Provider
	mu      sync.Mutex
	hidden  map[reconciler.Ref]bool // applied, not shown yet
	changed chan struct{}
}

func (l *lagging) Apply(ctx context.Context, req reconciler.Request, ch reconciler.Change) error {
	err := l.Provider.Apply(ctx, req, ch)
	l.mu.Lock()
	l.hidden[req.Ref] = true
	l.mu.Unlock()
	return err
}

func (l *lagging) Observe(ctx context.Context, req reconciler.Request) (reconciler.Observation, error) {
	l.mu.Lock()
	hidden := l.hidden[req.Ref]
	l.mu.Unlock()
	if hidden {
		return reconciler.Observation{}, nil
	}
	return l.Provider.Observe(ctx, req)
}

func (l *lagging) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// show makes the cache show every apply so far.
func (l *lagging) show() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.hidden)
	close(l.changed)
	l.changed = make(chan struct{})
}

// TestConfirmWaitsForASettlersCache: the confirm of an apply on a Settler
// waits for its cache to show the change, instead of reporting it not
// converged and applying it again. The cache lags 200 ms behind each
// apply, ten times the retry backoff: an engine that did not wait would
// create the objects again.
func TestConfirmWaitsForASettlersCache(t *testing.T) {
	l := &lagging{Provider: memory.New("lagging"), hidden: map[reconciler.Ref]bool{}, changed: make(chan struct{})}
	h := start(t, l.Provider, func(o *reconciler.Options) {
		o.Providers = []reconciler.Provider{l}
		o.SettleTimeout = time.Minute
	})
	go func() {
		for {
			select {
			case <-l.Applied():
				time.Sleep(200 * time.Millisecond)
				l.show()
			case <-h.done:
				return
			}
		}
	}()
	if err := h.setRevision("aaaaaaa1", "init", docs([]string{"br0"}, "m1")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Ready")
	for _, r := range []reconciler.Ref{ref("OVSManager", "ovs1"), ref("Bridge", "br0"), ref("Mirror", "m1")} {
		if got := l.Applies(r); len(got) != 1 || got[0] != reconciler.ActionCreate {
			t.Errorf("%s: applies %v, want one create", r, got)
		}
	}
}
