package ovs

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Options configures the Clients of one daemon.
type Options struct {
	// Node is this daemon's node: the OVSManagers whose spec.node names
	// it are the ones it connects to.
	Node   string
	Logger *slog.Logger
	// Secrets reads the TLS files of ssl: managers, confined to the
	// operator's secrets directory (nil: the default directory).
	Secrets *secret.Store
	// SettleTimeout bounds how long Await (a write waiting for the monitor
	// to show it) waits (default 2 s).
	SettleTimeout time.Duration
	// OwnInterfacesOnly monitors only the Interface rows that carry this
	// node's marker, for a one-shot command whose objects read no other
	// (no ContainerPort, no topology export: what the node owns is still
	// listed, for prunes): at 10,000 ports the interfaces are about a
	// fifth of the initial monitor's rows.
	OwnInterfacesOnly bool
}

// Event is one row change on a manager's monitor, after the view has it:
// Old is nil for an add, New nil for a delete. Table is "" when the
// manager's connection was made or lost: everything on it may have changed.
type Event struct {
	Conn     *Conn
	Table    string
	Old, New model.Model
}

// Clients are the daemon's connections to its OVSManagers, one per
// manager, shared by every provider that works on OVS (bridges and
// mirrors, container ports), as controller-runtime's manager shares one
// client between controllers. A connection is opened by the first provider
// that needs it and closed when its manager leaves the spec (Retain).
type Clients struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	conns map[string]*Conn
	subs  []func(Event)
	stats stats
}

// New returns the Clients of opts.Node; it connects to nothing until asked.
func New(opts Options) *Clients {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SettleTimeout <= 0 {
		opts.SettleTimeout = 2 * time.Second
	}
	return &Clients{opts: opts, log: opts.Logger.With("component", "ovsdb"), conns: map[string]*Conn{}}
}

// Node is the node the connections are for.
func (cs *Clients) Node() string { return cs.opts.Node }

// Subscribe registers f to be called with every row event of every
// manager, in the order the monitor delivers them. f runs on the monitor's
// goroutine and must not block.
func (cs *Clients) Subscribe(f func(Event)) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.subs = append(cs.subs, f)
}

func (cs *Clients) dispatch(c *Conn, table string, old, row model.Model) {
	cs.mu.Lock()
	subs := cs.subs
	cs.mu.Unlock()
	ev := Event{Conn: c, Table: table, Old: old, New: row}
	for _, f := range subs {
		f(ev)
	}
}

// Get returns the connection of the manager named name, nil when none is open.
func (cs *Clients) Get(name string) *Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.conns[name]
}

// Open returns the connection of the manager named name, opening it with
// sp when none is open. An open connection is returned whatever its
// settings: Replace changes them.
func (cs *Clients) Open(name string, sp spec.OVSManagerSpec) *Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.conns[name]; c != nil {
		return c
	}
	c := newConn(cs, name, sp)
	cs.conns[name] = c
	return c
}

// Replace returns the connection of the manager named name with the
// settings of sp: the open one when it has them, else a new one (the old
// one is closed first).
func (cs *Clients) Replace(name string, sp spec.OVSManagerSpec) *Conn {
	cs.mu.Lock()
	old := cs.conns[name]
	if old != nil && !old.SameSettings(sp) {
		delete(cs.conns, name)
	} else {
		old = nil
	}
	cs.mu.Unlock()
	if old != nil {
		old.close()
	}
	return cs.Open(name, sp)
}

// For returns the connection of the OVSManager named name in set, opening
// it when needed. It fails when set has no such manager for this node.
func (cs *Clients) For(set *spec.Set, name string) (*Conn, error) {
	if c := cs.Get(name); c != nil {
		return c, nil
	}
	if set != nil {
		for _, o := range set.OfKind("OVSManager") {
			if sp := o.Spec.(*spec.OVSManagerSpec); o.Metadata.Name == name && sp.Node == cs.opts.Node {
				return cs.Open(name, *sp), nil
			}
		}
	}
	return nil, fmt.Errorf("ovsdb: manager %s is not one of node %s's OVSManagers", name, cs.opts.Node)
}

// Drop closes the connection of the manager named name, if one is open.
func (cs *Clients) Drop(name string) {
	cs.mu.Lock()
	c := cs.conns[name]
	delete(cs.conns, name)
	cs.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// Retain closes the connections of the managers keep rejects and returns
// their names, sorted.
func (cs *Clients) Retain(keep func(name string) bool) []string {
	cs.mu.Lock()
	var gone []*Conn
	for name, c := range cs.conns {
		if !keep(name) {
			gone = append(gone, c)
			delete(cs.conns, name)
		}
	}
	cs.mu.Unlock()
	names := make([]string, 0, len(gone))
	for _, c := range gone {
		cs.log.Info("manager left the spec; disconnecting", "manager", c.name)
		c.close()
		names = append(names, c.name)
	}
	slices.Sort(names)
	return names
}

// Conns returns the open connections, sorted by manager name.
func (cs *Clients) Conns() []*Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]*Conn, 0, len(cs.conns))
	for _, name := range slices.Sorted(maps.Keys(cs.conns)) {
		out = append(out, cs.conns[name])
	}
	return out
}

// Close closes every connection.
func (cs *Clients) Close() {
	cs.mu.Lock()
	conns := cs.conns
	cs.conns = map[string]*Conn{}
	cs.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Stats counts the OVSDB transactions sent through the Clients.
type Stats struct {
	// Transactions sent, Operations in them, and Failed transactions
	// (refused by the server, or not answered).
	Transactions, Operations, Failed uint64
}

type stats struct{ transactions, operations, failed atomic.Uint64 }

// Stats returns the transaction counters, for metrics and benchmarks.
func (cs *Clients) Stats() Stats {
	return Stats{Transactions: cs.stats.transactions.Load(), Operations: cs.stats.operations.Load(), Failed: cs.stats.failed.Load()}
}
