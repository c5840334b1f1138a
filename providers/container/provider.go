// Package container is the container-port provider: ContainerPort objects
// plug a Docker container into an Open vSwitch bridge through a veth pair,
// in the layout and with the external_ids of Open vSwitch's ovs-docker
// script, so that its del-port and set-vlan work on these ports and the
// ports it made are adopted. Containers are found through the Docker SDK
// and followed through the events stream; links, addresses and routes are
// set through netlink in the container's network namespace, and changes
// there are followed by netlink subscriptions; the OVS rows go through the
// daemon's shared OVSDB connections (internal/ovs). See README.md.
package container

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Kind is the spec kind this provider reconciles.
const Kind = "ContainerPort"

// Kinds are the spec kinds this provider reconciles.
var Kinds = []string{Kind}

// Options configures a Provider.
type Options struct {
	// Node is this daemon's node: it plugs the ContainerPorts whose
	// spec.node names it, and marks what it makes with it.
	Node   string
	Logger *slog.Logger
	// OVS are the daemon's OVSDB connections, shared with the OVSDB
	// provider: the ports are added through them.
	OVS *ovs.Clients
	// Events is where live changes are reported to the engine (nil: they
	// are not; the engine's resync still visits every port).
	Events *reconciler.Events
	// DockerHost overrides DOCKER_HOST (unix:///var/run/docker.sock when
	// both are empty).
	DockerHost string
	// OVSNetns is the network namespace ovs-vswitchd runs in, where the
	// host ends of the veth pairs must be: a name under /run/netns or a
	// path; empty for the daemon's own.
	OVSNetns string
	// Workers bounds the plugs of one batch done at once (default 16).
	Workers int
}

// Provider reconciles ContainerPort objects. It implements
// reconciler.Provider and reconciler.BatchApplier.
type Provider struct {
	opts Options
	log  *slog.Logger

	startOnce  sync.Once
	startErr   error
	ns         *namespaces
	dockerOnce sync.Once
	dockerErr  error
	docker     atomic.Pointer[docker]

	mu    sync.Mutex
	index *specIndex
	// hostEnds maps a veth host end seen by an observe to its port.
	hostEnds map[string]reconciler.Ref
	// plugged is the last observed state of each plugged port, for the
	// topology; topo signals its changes.
	plugged map[reconciler.Ref]*plugged
	topo    topology.Signals

	// hook, when set (tests), is called before each step of a plug; an
	// error fails the step. errCrash stops the plug there without undoing
	// anything, as a killed daemon would.
	hook atomic.Pointer[func(step string) error]
}

// New returns a provider for opts.Node. It connects to dockerd and opens
// the namespaces on first use.
func New(opts Options) *Provider {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	p := &Provider{opts: opts, log: opts.Logger.With("provider", "container"), index: newSpecIndex(nil, opts.Node),
		hostEnds: map[string]reconciler.Ref{}, plugged: map[reconciler.Ref]*plugged{}}
	if opts.OVS != nil {
		opts.OVS.Subscribe(p.onRowEvent)
	}
	return p
}

// Name implements reconciler.Provider.
func (p *Provider) Name() string { return "container" }

// Kinds implements reconciler.Provider.
func (p *Provider) Kinds() []string { return slices.Clone(Kinds) }

// start opens the namespaces, once.
func (p *Provider) start() error {
	p.startOnce.Do(func() {
		if p.opts.OVS == nil {
			p.startErr = fmt.Errorf("container: no OVSDB connections to add ports through")
			return
		}
		p.ns, p.startErr = openNamespaces(p.opts.OVSNetns, p.log, p.onContainerNetlink, p.onHostLink)
	})
	return p.startErr
}

// dockerEngine connects to dockerd on first use (a node without
// ContainerPorts never does), and waits for the first list of its
// containers, or for the first attempt to fail.
func (p *Provider) dockerEngine(ctx context.Context) (*docker, error) {
	p.dockerOnce.Do(func() {
		d, err := newDocker(p.opts.DockerHost, p.log, p.onContainer)
		if err != nil {
			p.dockerErr = err
			return
		}
		p.docker.Store(d)
	})
	d := p.docker.Load()
	if d == nil {
		return nil, p.dockerErr
	}
	d.waitTried(ctx)
	return d, nil
}

// Close disconnects from dockerd and closes the namespaces.
func (p *Provider) Close() {
	p.startOnce.Do(func() { p.startErr = fmt.Errorf("container: provider closed") })
	p.dockerOnce.Do(func() { p.dockerErr = fmt.Errorf("container: provider closed") })
	if d := p.docker.Load(); d != nil {
		d.close()
	}
	if p.ns != nil {
		p.ns.close()
	}
}

// useSet makes set the provider's index when it is a revision not seen yet.
func (p *Provider) useSet(set *spec.Set) {
	if set == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index.set != set {
		p.index = newSpecIndex(set, p.opts.Node)
	}
}

func (p *Provider) currentIndex() *specIndex {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.index
}

// Owned implements reconciler.Provider: the ports on this node's managers
// whose interface carries this node's marker, and the veth pairs whose
// alias does (a plug interrupted before its OVS port was made).
func (p *Provider) Owned(ctx context.Context, set *spec.Set) ([]reconciler.Ref, error) {
	if err := p.start(); err != nil {
		return nil, err
	}
	p.useSet(set)
	var out []reconciler.Ref
	for _, m := range slices.Sorted(maps.Keys(p.currentIndex().managers)) {
		ps, err := p.opts.OVS.Ports(ctx, set, m)
		if err != nil {
			return nil, err // pruning on a partial list could remove too little or too much
		}
		rows, err := ps.Marked(p.opts.Node, Kind)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out = append(out, reconciler.Ref{Kind: Kind, Name: r.ExternalIDs[ovs.KeyName]})
		}
	}
	links, err := p.ns.host.LinkList()
	if err != nil {
		return nil, wrapPerm("list host links", err)
	}
	for _, l := range links {
		if name := aliasObject(p.opts.Node, l.Attrs().Alias); name != "" {
			out = append(out, reconciler.Ref{Kind: Kind, Name: name})
		}
	}
	slices.SortFunc(out, func(a, b reconciler.Ref) int { return cmp.Compare(a.Name, b.Name) })
	return slices.Compact(out), nil
}

func (p *Provider) enqueueAll(refs []reconciler.Ref) { p.opts.Events.Changed(refs...) }

// onContainer is the docker cache's report of a changed container (nil
// after a relist).
func (p *Provider) onContainer(c *ctr) {
	idx := p.currentIndex()
	if c == nil {
		p.enqueueAll(idx.all)
		return
	}
	if !c.Running && p.start() == nil {
		p.ns.drop(c.ID)
	}
	p.enqueueAll(idx.forContainer(c))
}

// onContainerNetlink reports a change inside a container's namespace.
func (p *Provider) onContainerNetlink(id string) {
	d := p.docker.Load()
	if d == nil {
		return
	}
	d.mu.Lock()
	c := d.byID[id]
	d.mu.Unlock()
	if c != nil {
		p.enqueueAll(p.currentIndex().forContainer(c))
	}
}

// onHostLink reports a change of a link on the host side.
func (p *Provider) onHostLink(name string) {
	p.mu.Lock()
	ref, ok := p.hostEnds[name]
	p.mu.Unlock()
	if ok {
		p.enqueueAll([]reconciler.Ref{ref})
	}
}

// onPortEvent maps an OVS port change to the ports it concerns: by
// wirekeeper's marker, or by ovs-docker's container_id/container_iface.
func (p *Provider) onPortEvent(ids map[string]string) {
	idx := p.currentIndex()
	if ids == nil {
		p.enqueueAll(idx.all)
		return
	}
	var refs []reconciler.Ref
	if ids[ovs.KeyOwner] == p.opts.Node && ids[ovs.KeyKind] == Kind {
		refs = append(refs, reconciler.Ref{Kind: Kind, Name: ids[ovs.KeyName]})
	}
	if r, ok := idx.byIface[ids[ovs.KeyContainerID]+"/"+ids[ovs.KeyContainerIface]]; ok {
		refs = append(refs, r)
	}
	if d := p.docker.Load(); d != nil && ids[ovs.KeyContainerID] != "" {
		// ovs-docker stores the container as typed: a name where the spec
		// has an ID, or the other way round.
		cid := ids[ovs.KeyContainerID]
		d.mu.Lock()
		c := d.byID[d.byName[cid]]
		if c == nil {
			c = d.byID[cid]
		}
		d.mu.Unlock()
		if c != nil {
			refs = append(refs, idx.forContainer(c)...)
		}
	}
	p.enqueueAll(refs)
}
