// Package ovsdb is the Open vSwitch provider: OVSManager connections,
// Bridges and port Mirrors, kept equal to the spec through libovsdb. Every
// manager of this node gets one client with a monitor of the Open_vSwitch,
// Bridge, Port, Interface and Mirror tables; observes read the monitor's
// view, the monitor's events enqueue exactly the objects a row change
// touches, and all the changes of one reconcile pass on one manager go in
// one OVSDB transaction. See README.md.
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

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Options configures a Provider.
type Options struct {
	// Node is this daemon's node: it connects to the OVSManagers whose
	// spec.node names it, and marks what it creates with it.
	Node   string
	Logger *slog.Logger
	// PollInterval is the safety net behind the monitor: every object of
	// every manager is enqueued this often (default 5 minutes).
	PollInterval time.Duration
	// ConnectTimeout bounds how long applying an OVSManager waits for its
	// first connection (default 10 s).
	ConnectTimeout time.Duration
	// SettleTimeout bounds how long an apply waits for the monitor to show
	// the transaction's result before the engine confirms it (default 2 s).
	SettleTimeout time.Duration
	// Secrets reads the TLS files of ssl: managers, confined to the
	// operator's secrets directory (nil: the default directory).
	Secrets *secret.Store
}

// Provider reconciles OVSManager, Bridge and Mirror objects. It implements
// reconciler.Provider, reconciler.BatchApplier and reconciler.Watcher.
type Provider struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	conns map[string]*conn // by OVSManager metadata.name
	index *specIndex
	// enqueue is the engine's queue while Watch runs.
	enqueue func(reconciler.Ref)
	// portEvents are the OnPortEvent subscribers.
	portEvents []func(manager string, ids map[string]string)
	// topo are the OnTopologyChange subscribers.
	topo  topology.Signals
	stats stats
}

// Kinds are the spec kinds this provider reconciles.
var Kinds = []string{"OVSManager", "Bridge", "Mirror"}

// New returns a provider for opts.Node. It connects to nothing until the
// engine applies the node's OVSManager objects.
func New(opts Options) *Provider {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Minute
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.SettleTimeout <= 0 {
		opts.SettleTimeout = 2 * time.Second
	}
	return &Provider{opts: opts, log: opts.Logger.With("provider", "ovsdb"), conns: map[string]*conn{}, index: newSpecIndex(nil, opts.Node)}
}

// Name implements reconciler.Provider.
func (p *Provider) Name() string { return "ovsdb" }

// Kinds implements reconciler.Provider.
func (p *Provider) Kinds() []string { return slices.Clone(Kinds) }

// Close disconnects from every manager.
func (p *Provider) Close() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*conn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

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
		if err := c.waitUp(ctx); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	var gone []*conn
	for name, c := range p.conns {
		if _, ok := idx.managers[name]; !ok {
			gone = append(gone, c)
			delete(p.conns, name)
		}
	}
	conns := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range gone {
		p.log.Info("manager left the spec; disconnecting", "manager", c.name)
		c.close()
	}
	if len(gone) > 0 {
		p.topo.Fire()
	}
	var out []reconciler.Ref
	for _, c := range conns {
		_, v, err := c.current()
		if err != nil {
			return nil, err // pruning on a partial list could remove too little or too much
		}
		v.mu.RLock()
		for _, b := range v.bridges {
			if p.owns(b.ExternalIDs) && b.ExternalIDs[keyAdopted] != "true" && b.ExternalIDs[keyKind] == "Bridge" {
				out = append(out, reconciler.Ref{Kind: "Bridge", Name: b.ExternalIDs[keyName]})
			}
		}
		for id, m := range v.mirrors {
			// A row no bridge lists is as good as gone (see markedRow):
			// Observe already reports it absent, and Owned must agree.
			if p.owns(m.ExternalIDs) && m.ExternalIDs[keyKind] == "Mirror" && v.mirrorBridge[id] != "" {
				out = append(out, reconciler.Ref{Kind: "Mirror", Name: m.ExternalIDs[keyName]})
			}
		}
		v.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b reconciler.Ref) int {
		if a.Kind != b.Kind {
			return spec.KindRank(a.Kind) - spec.KindRank(b.Kind)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return slices.Compact(out), nil
}

// Watch implements reconciler.Watcher: monitor events enqueue the objects
// they touch, and every PollInterval every object is enqueued.
func (p *Provider) Watch(ctx context.Context, enqueue func(reconciler.Ref)) error {
	p.mu.Lock()
	p.enqueue = enqueue
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.enqueue = nil
		p.mu.Unlock()
	}()
	t := time.NewTicker(reconciler.Jitter(p.opts.PollInterval, 0.1))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The connections stay up for the applies the engine finishes
			// after ctx ends; the provider's owner closes it afterwards.
			return nil
		case <-t.C:
			for _, r := range p.currentIndex().all {
				enqueue(r)
			}
		}
	}
}

// owns reports whether external_ids carry this node's ownership marker.
func (p *Provider) owns(ids map[string]string) bool { return ids[keyOwner] == p.opts.Node }

// markers are the external_ids wirekeeper writes on a row it manages.
func (p *Provider) markers(ref reconciler.Ref) map[string]string {
	return map[string]string{keyOwner: p.opts.Node, keyKind: ref.Kind, keyName: ref.Name}
}

// conn returns the connection of the manager named name, starting it when
// the spec has it for this node and it is not running yet.
func (p *Provider) conn(name string) (*conn, error) {
	idx := p.currentIndex()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conns[name]; c != nil {
		return c, nil
	}
	sp, ok := idx.managers[name]
	if !ok {
		return nil, fmt.Errorf("ovsdb: manager %s is not one of node %s's OVSManagers", name, p.opts.Node)
	}
	c := newConn(name, *sp, p.opts.Secrets, p.log, p.onEvent)
	p.conns[name] = c
	return c, nil
}

// onEvent maps one row event of manager c to the objects it touches.
func (p *Provider) onEvent(c *conn, table string, old, row model.Model) {
	p.portEvent(c, table, old, row)
	p.topo.Fire()
	p.mu.Lock()
	enqueue := p.enqueue
	p.mu.Unlock()
	if enqueue == nil {
		return
	}
	idx := p.currentIndex()
	mi := idx.byManager[c.name]
	if mi == nil {
		return
	}
	switch table {
	case "": // connection lost or made: everything on the manager
		enqueue(reconciler.Ref{Kind: "OVSManager", Name: c.name})
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
		_, v, err := c.current()
		if err != nil {
			return // not connected: the resync at the next connection wakes everything
		}
		v.mu.RLock()
		if portsMoved {
			for _, id := range symmetricDifference(o.Ports, n.Ports) {
				if pr := v.ports[id]; pr != nil {
					for _, r := range mi.mirrorsByPort[pr.Name] {
						enqueue(r)
					}
				}
			}
		}
		if mirrorsMoved {
			for _, id := range symmetricDifference(o.Mirrors, n.Mirrors) {
				if m := v.mirrors[id]; m != nil {
					p.enqueueMirror(mi, m, enqueue)
				}
			}
		}
		v.mu.RUnlock()
		if mirrorsMoved {
			enqueue(reconciler.Ref{Kind: "OVSManager", Name: c.name})
		}
	case "Mirror":
		for _, m := range []model.Model{old, row} {
			if mr, ok := m.(*vswitch.Mirror); ok && mr != nil {
				p.enqueueMirror(mi, mr, enqueue)
			}
		}
		enqueue(reconciler.Ref{Kind: "OVSManager", Name: c.name})
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

// enqueueMirror wakes the Mirror objects a live mirror row concerns: those
// naming it, and the one whose marker it carries for this node.
func (p *Provider) enqueueMirror(mi *managerIndex, m *vswitch.Mirror, enqueue func(reconciler.Ref)) {
	for _, r := range mi.mirrorsByName[m.Name] {
		enqueue(r)
	}
	if name := m.ExternalIDs[keyName]; name != "" && m.ExternalIDs[keyKind] == "Mirror" && p.owns(m.ExternalIDs) {
		enqueue(reconciler.Ref{Kind: "Mirror", Name: name})
	}
}

// symmetricDifference returns the strings in exactly one of a and b.
func symmetricDifference(a, b []string) []string {
	in := make(map[string]int, len(a)+len(b))
	for _, s := range a {
		in[s] |= 1
	}
	for _, s := range b {
		in[s] |= 2
	}
	var out []string
	for s, v := range in {
		if v != 3 {
			out = append(out, s)
		}
	}
	return out
}
