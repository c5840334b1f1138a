package demo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/internal/ovsdbserver"
)

// liveMirrors is the demo's own view of the OVSDB server, a client apart
// from the daemon's, so that what the demo narrates (and the repair times
// it measures) is what any other client of the server sees.
type liveMirrors struct {
	cl      client.Client
	mu      sync.Mutex
	changed chan struct{}
	// history holds, per mirror name, its state after every change the
	// server published, with the time this client received it.
	history map[string][]stamped
}

// mirrorState is what the demo checks of a mirror on the demo bridge.
type mirrorState struct{ srcPorts int }

type stamped struct {
	at time.Time
	st *mirrorState // nil: no such mirror on the bridge
}

func watchMirrors(ctx context.Context, address string) (*liveMirrors, error) {
	cl, err := ovsdbserver.Connect(ctx, address)
	if err != nil {
		return nil, err
	}
	w := &liveMirrors{cl: cl, changed: make(chan struct{}), history: map[string][]stamped{}}
	// Each event is recorded from its own row: the cache may already hold a
	// later state when the handler of an earlier change runs.
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(_ string, row model.Model) { w.event(row, false) },
		UpdateFunc: func(_ string, _, row model.Model) { w.event(row, false) },
		DeleteFunc: func(_ string, row model.Model) { w.event(row, true) },
	})
	if _, err := cl.MonitorAll(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cannot monitor %s: %w", address, err)
	}
	return w, nil
}

// event records one change of a Mirror row and wakes the waiters.
func (w *liveMirrors) event(row model.Model, deleted bool) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if m, ok := row.(*vswitch.Mirror); ok {
		var st *mirrorState
		if !deleted {
			st = &mirrorState{srcPorts: len(m.SelectSrcPort)}
		}
		w.record(m.Name, now, st)
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// record appends st to name's history when it differs from the last entry.
// Callers hold w.mu.
func (w *liveMirrors) record(name string, at time.Time, st *mirrorState) {
	h := w.history[name]
	if len(h) > 0 {
		last := h[len(h)-1].st
		if (last == nil) == (st == nil) && (last == nil || *last == *st) {
			return
		}
	}
	w.history[name] = append(h, stamped{at, st})
}

// repairTime waits until name's history shows broken(state) followed by
// fixed(state), and returns the time between the two as this client saw
// them: from the server publishing the foreign change to it publishing the
// repair.
func (w *liveMirrors) repairTime(ctx context.Context, name string, broken, fixed func(*mirrorState) bool) (time.Duration, error) {
	for {
		w.mu.Lock()
		ch := w.changed
		h := slices.Clone(w.history[name])
		w.mu.Unlock()
		for i, e := range h {
			if !broken(e.st) {
				continue
			}
			for _, f := range h[i+1:] {
				if fixed(f.st) {
					return f.at.Sub(e.at), nil
				}
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("timed out waiting for mirror %s to be repaired", name)
		}
	}
}

func (w *liveMirrors) close() { w.cl.Close() }

// mirrors returns the mirrors on the demo bridge by name.
func (w *liveMirrors) mirrors() map[string]*vswitch.Mirror {
	br := &vswitch.Bridge{Name: Bridge}
	if err := w.cl.Get(context.Background(), br); err != nil {
		return nil
	}
	out := map[string]*vswitch.Mirror{}
	for _, id := range br.Mirrors {
		if m, ok := w.cl.Cache().Table("Mirror").Row(id).(*vswitch.Mirror); ok {
			out[m.Name] = m
		}
	}
	return out
}

// names lists the mirrors on the demo bridge, sorted.
func (w *liveMirrors) names() []string {
	var out []string
	for name := range w.mirrors() {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// waitFor waits until cond holds for the mirror named name (nil when the
// bridge has no such mirror).
func (w *liveMirrors) waitFor(ctx context.Context, name string, cond func(*mirrorState) bool) error {
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		var st *mirrorState
		if m := w.mirrors()[name]; m != nil {
			st = &mirrorState{srcPorts: len(m.SelectSrcPort)}
		}
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for mirror %s", name)
		}
	}
}
