// Package ovsdb is the Open vSwitch provider: OVSManager connections,
// Bridges and port Mirrors, kept equal to the spec through libovsdb. It
// works through the daemon's shared OVSDB connections (internal/ovs), one
// per manager with a monitor: observes read the monitor's view, the
// monitor's row events are mapped to exactly the objects a row change
// touches and reported to the engine, and all the changes of one reconcile
// pass on one manager go in one OVSDB transaction. See README.md.
package ovsdb

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Options configures a Provider.
type Options struct {
	// Node is this daemon's node: it connects to the OVSManagers whose
	// spec.node names it, and marks what it creates with it.
	Node   string
	Logger *slog.Logger
	// OVS are the daemon's OVSDB connections, shared with the other
	// providers that work on OVS (nil: the provider makes its own).
	OVS *ovs.Clients
	// Events is where live changes are reported to the engine (nil: they
	// are not; the engine's resync still visits every object).
	Events *reconciler.Events
	// ConnectTimeout bounds how long applying an OVSManager waits for its
	// first connection (default 10 s).
	ConnectTimeout time.Duration
	// Secrets reads the TLS files of ssl: managers when the provider makes
	// its own connections (OVS nil).
	Secrets *secret.Store
}

// Provider reconciles OVSManager, Bridge and Mirror objects. It implements
// reconciler.Provider, reconciler.BatchApplier and reconciler.Settler (its
// observes read the monitors, which show a write a moment after it).
type Provider struct {
	opts Options
	log  *slog.Logger
	ovs  *ovs.Clients

	mu    sync.Mutex
	index *specIndex
	// topo are the OnTopologyChange subscribers.
	topo topology.Signals
	// changed is closed and replaced at every row event (Changed).
	changed chan struct{}
}

// Kinds are the spec kinds this provider reconciles.
var Kinds = []string{"OVSManager", "Bridge", "Mirror"}

// New returns a provider for opts.Node. It connects to nothing until the
// engine applies the node's OVSManager objects.
func New(opts Options) *Provider {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.OVS == nil {
		opts.OVS = ovs.New(ovs.Options{Node: opts.Node, Logger: opts.Logger, Secrets: opts.Secrets})
	}
	p := &Provider{opts: opts, log: opts.Logger.With("provider", "ovsdb"), ovs: opts.OVS, index: newSpecIndex(nil, opts.Node),
		changed: make(chan struct{})}
	p.ovs.Subscribe(p.onEvent)
	return p
}

// Name implements reconciler.Provider.
func (p *Provider) Name() string { return "ovsdb" }

// Kinds implements reconciler.Provider.
func (p *Provider) Kinds() []string { return slices.Clone(Kinds) }

// Close disconnects from every manager (the shared connections: the
// registry closes the provider after the engine stopped using every one).
func (p *Provider) Close() { p.ovs.Close() }

// Observe implements reconciler.Provider, reading the manager's monitor.
func (p *Provider) Observe(_ context.Context, req reconciler.Request) (reconciler.Observation, error) {
	p.useSet(req.Set)
	switch req.Ref.Kind {
	case "OVSManager":
		return p.observeManager(req)
	case "Bridge":
		return p.observeBridge(req)
	case "Mirror":
		return p.observeMirror(req)
	}
	return reconciler.Observation{}, fmt.Errorf("ovsdb: kind %s is not reconciled by this provider", req.Ref.Kind)
}

// Apply implements reconciler.Provider: a batch of one.
func (p *Provider) Apply(ctx context.Context, req reconciler.Request, ch reconciler.Change) error {
	return p.ApplyBatch(ctx, []reconciler.Apply{{Req: req, Change: ch}})[0]
}

// Owned implements reconciler.Provider: the bridges and mirrors on this
// node's managers whose external_ids name this node as owner (adopted
// bridges excepted: they are never pruned). It also closes the connections
// of managers that left the spec.
func (p *Provider) Owned(ctx context.Context, set *spec.Set) ([]reconciler.Ref, error) {
	p.useSet(set)
	idx := p.currentIndex()
	// Every manager of the node is asked, connected now if it was not (the
	// first revision after a start): what was removed from git while the
	// daemon was down is pruned at once.
	for name := range idx.managers {
		c, err := p.conn(name)
		if err != nil {
			return nil, err
		}
		if err := c.WaitUp(ctx); err != nil {
			return nil, err
		}
	}
	if gone := p.ovs.Retain(func(name string) bool { _, ok := idx.managers[name]; return ok }); len(gone) > 0 {
		p.topo.Fire()
	}
	conns := p.ovs.Conns()
	var out []reconciler.Ref
	for _, c := range conns {
		_, v, err := c.Current()
		if err != nil {
			return nil, err // pruning on a partial list could remove too little or too much
		}
		v.RLock()
		for _, b := range v.Bridges {
			if p.owns(b.ExternalIDs) && b.ExternalIDs[ovs.KeyAdopted] != "true" && b.ExternalIDs[ovs.KeyKind] == "Bridge" {
				out = append(out, reconciler.Ref{Kind: "Bridge", Name: b.ExternalIDs[ovs.KeyName]})
			}
		}
		for id, m := range v.Mirrors {
			// A row no bridge lists is as good as gone (see markedRow):
			// Observe already reports it absent, and Owned must agree.
			if p.owns(m.ExternalIDs) && m.ExternalIDs[ovs.KeyKind] == "Mirror" && v.MirrorBridge[id] != "" {
				out = append(out, reconciler.Ref{Kind: "Mirror", Name: m.ExternalIDs[ovs.KeyName]})
			}
		}
		v.RUnlock()
	}
	slices.SortFunc(out, func(a, b reconciler.Ref) int {
		if a.Kind != b.Kind {
			return spec.KindRank(a.Kind) - spec.KindRank(b.Kind)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return slices.Compact(out), nil
}

// owns reports whether external_ids carry this node's ownership marker.
func (p *Provider) owns(ids map[string]string) bool { return ovs.Owns(p.opts.Node, ids) }

// markers are the external_ids wirekeeper writes on a row it manages.
func (p *Provider) markers(ref reconciler.Ref) map[string]string {
	return ovs.Markers(p.opts.Node, ref.Kind, ref.Name)
}

// conn returns the connection of the manager named name, starting it when
// the spec has it for this node and it is not running yet.
func (p *Provider) conn(name string) (*ovs.Conn, error) {
	sp, ok := p.currentIndex().managers[name]
	if !ok {
		if c := p.ovs.Get(name); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("ovsdb: manager %s is not one of node %s's OVSManagers", name, p.opts.Node)
	}
	return p.ovs.Open(name, *sp), nil
}

// Changed implements reconciler.Settler: the channel is closed at the next
// row event of any manager.
func (p *Provider) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// onEvent maps one row event of manager c to the objects it touches.
func (p *Provider) onEvent(ev ovs.Event) {
	if statisticsTick(ev) {
		return
	}
	p.topo.Fire()
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	c, table, old, row := ev.Conn, ev.Table, ev.Old, ev.New
	enqueue := func(r reconciler.Ref) { p.opts.Events.Changed(r) }
	idx := p.currentIndex()
	mi := idx.byManager[c.Name()]
	if mi == nil {
		return
	}
	switch table {
	case "": // connection lost or made: everything on the manager
		enqueue(reconciler.Ref{Kind: "OVSManager", Name: c.Name()})
		for _, r := range mi.all {
			enqueue(r)
		}
	case "Bridge":
		o, _ := old.(*vswitch.Bridge)
		n, _ := row.(*vswitch.Bridge)
		for _, b := range []*vswitch.Bridge{o, n} {
			if b == nil {
				continue
			}
			for _, r := range mi.bridges[b.Name] {
				enqueue(r)
			}
		}
		if o == nil || n == nil { // a bridge came or went: its mirrors may wait for it
			b := n
			if b == nil {
				b = o
			}
			for _, r := range mi.mirrorsOnBridge[b.Name] {
				enqueue(r)
			}
			return
		}
		// Ports and mirrors put on or taken off the bridge. The monitor
		// hands a transaction over one row at a time, its tables in no
		// fixed order, and each row's event wakes objects at once: the
		// Port row of an add-port can wake a mirror that then sees the
		// port on no bridge yet, and waits (Pending, or Degraded) for a
		// wake-up that must come from this Bridge row's event. So it wakes
		// the mirrors naming a port it gained or lost, and those of a
		// mirror it gained or lost. A port the view does not hold has its
		// own event still to come, or had it already and is gone: that
		// event wakes them.
		portsMoved := len(mi.mirrorsByPort) > 0 && !slices.Equal(o.Ports, n.Ports)
		mirrorsMoved := !slices.Equal(o.Mirrors, n.Mirrors)
		if !portsMoved && !mirrorsMoved {
			return
		}
		_, v, err := c.Current()
		if err != nil {
			return // not connected: the resync at the next connection wakes everything
		}
		v.RLock()
		if portsMoved {
			for _, id := range ovs.Moved(o.Ports, n.Ports) {
				if pr := v.Ports[id]; pr != nil {
					for _, r := range mi.mirrorsByPort[pr.Name] {
						enqueue(r)
					}
				}
			}
		}
		if mirrorsMoved {
			for _, id := range ovs.Moved(o.Mirrors, n.Mirrors) {
				if m := v.Mirrors[id]; m != nil {
					p.enqueueMirror(mi, m, enqueue)
				}
			}
		}
		v.RUnlock()
		if mirrorsMoved {
			enqueue(reconciler.Ref{Kind: "OVSManager", Name: c.Name()})
			if len(o.Mirrors) > maxMirrorsPerBridge || len(n.Mirrors) > maxMirrorsPerBridge {
				// Past vswitchd's limit every mirror of the bridge reports
				// the bridge's count (beyondMirrorLimit): all of them are due.
				for _, r := range mi.mirrorsOnBridge[n.Name] {
					enqueue(r)
				}
			}
		}
	case "Mirror":
		for _, m := range []model.Model{old, row} {
			if mr, ok := m.(*vswitch.Mirror); ok && mr != nil {
				p.enqueueMirror(mi, mr, enqueue)
			}
		}
		enqueue(reconciler.Ref{Kind: "OVSManager", Name: c.Name()})
	case "Port":
		for _, m := range []model.Model{old, row} {
			if pr, ok := m.(*vswitch.Port); ok && pr != nil {
				for _, r := range mi.mirrorsByPort[pr.Name] {
					enqueue(r)
				}
			}
		}
	}
}

// statisticsTick reports a Mirror update that changes only the values of
// its statistics, which ovs-vswitchd rewrites every few seconds while the
// mirror carries traffic: nothing the provider reads changed. Statistics
// appearing or disappearing does matter (observeMirror).
func statisticsTick(ev ovs.Event) bool {
	o, ok1 := ev.Old.(*vswitch.Mirror)
	n, ok2 := ev.New.(*vswitch.Mirror)
	if ev.Table != "Mirror" || !ok1 || !ok2 || o == nil || n == nil || (len(o.Statistics) == 0) != (len(n.Statistics) == 0) {
		return false
	}
	a, b := *o, *n
	a.Statistics, b.Statistics = nil, nil
	return a.Equals(&b)
}

// enqueueMirror wakes the Mirror objects a live mirror row concerns: those
// naming it, and the one whose marker it carries for this node.
func (p *Provider) enqueueMirror(mi *managerIndex, m *vswitch.Mirror, enqueue func(reconciler.Ref)) {
	for _, r := range mi.mirrorsByName[m.Name] {
		enqueue(r)
	}
	if name := m.ExternalIDs[ovs.KeyName]; name != "" && m.ExternalIDs[ovs.KeyKind] == "Mirror" && p.owns(m.ExternalIDs) {
		enqueue(reconciler.Ref{Kind: "Mirror", Name: name})
	}
}
