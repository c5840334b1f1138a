package providers

import (
	"log/slog"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Config is what every provider is built from: the daemon's node and
// logger, and where its providers report live changes. Per-object settings
// (addresses, credentials references) come from the specs themselves.
type Config struct {
	Node   string
	Logger *slog.Logger
	// Events is where the providers report live changes: the engine's
	// (reconciler.Options.Events). Nil: none are reported, and the engine
	// sees changes only at its resync.
	Events *reconciler.Events
	// OVSNetns is the network namespace ovs-vswitchd runs in; DockerHost
	// the Docker engine (both empty for the defaults).
	OVSNetns, DockerHost string
	// Secrets reads the secrets and TLS files specs name, confined to the
	// operator's secrets directory (nil: the default directory).
	Secrets *secret.Store
	// OneShot is the whole spec a one-shot command (diff) works on; the
	// OVS connections then monitor only what its objects of Node read
	// (only the interfaces Node owns without a ContainerPort or
	// SkyDiveExport). Nil for the daemon, whose spec changes.
	OneShot *spec.Set
	// Early, with OneShot, are connections opened while OneShot loaded
	// (NewEarlyOVS): used when they monitor what the set needs, closed
	// otherwise.
	Early *EarlyOVS
}

// EarlyOVS are the OVS connections of a one-shot command, opened while its
// spec loads so that connecting (ovsdb-server composing and the client
// decoding the initial rows) overlaps the load: Decoded, given to
// spec.LoadOptions, opens each OVSManager of the node as soon as it is
// decoded, monitoring the node's own interfaces only (what Build chooses
// for a set without a ContainerPort or SkyDiveExport).
type EarlyOVS struct {
	node    string
	clients *ovs.Clients
}

// NewEarlyOVS returns node's early connections; none is open yet.
func NewEarlyOVS(node string, log *slog.Logger, secrets *secret.Store) *EarlyOVS {
	return &EarlyOVS{node: node, clients: ovs.New(ovs.Options{Node: node, Logger: log, Secrets: secrets, OwnInterfacesOnly: true})}
}

// Decoded opens the connection of o when it is one of the node's
// OVSManagers; it may run concurrently (spec.LoadOptions.Decoded).
func (e *EarlyOVS) Decoded(o *spec.Object) {
	if sp, ok := o.Spec.(*spec.OVSManagerSpec); ok && sp.Node == e.node {
		e.clients.Open(o.Metadata.Name, *sp)
	}
}

// Close closes the connections (Build's providers close them when Build
// used them).
func (e *EarlyOVS) Close() { e.clients.Close() }

// Shared is what the providers of one daemon share, made once by Build.
type Shared struct {
	// OVS are the connections to the node's OVSManagers, one per manager,
	// used by every provider that works on Open vSwitch.
	OVS *ovs.Clients
}

// registry builds the providers built into wirekeeper: one plain
// constructor call each, in no particular order. A new provider adds its
// line here and nothing else: Build hands every topology.Source to the
// providers that draw the topology.
func registry(c Config, s Shared) []reconciler.Provider {
	return []reconciler.Provider{
		ovsdb.New(ovsdb.Options{Node: c.Node, Logger: c.Logger, Events: c.Events, OVS: s.OVS}),
		container.New(container.Options{Node: c.Node, Logger: c.Logger, Events: c.Events, OVS: s.OVS, OVSNetns: c.OVSNetns, DockerHost: c.DockerHost}),
		collector.New(collector.Options{Node: c.Node, Logger: c.Logger, Events: c.Events, Secrets: c.Secrets}),
		skydive.New(skydive.Options{Node: c.Node, Logger: c.Logger, Events: c.Events, Secrets: c.Secrets}),
	}
}

// TopologyReader is implemented by providers that draw the node's
// topology from the other providers' parts (the SkyDive export).
type TopologyReader interface {
	// AddSource adds s to the parts drawn; called before the provider is used.
	AddSource(s topology.Source)
}

// Build builds every registered provider for cfg, with what they share.
func Build(cfg Config) ([]reconciler.Provider, error) {
	ownOnly := cfg.OneShot != nil && !readsInterfaces(cfg.OneShot, cfg.Node)
	var shared Shared
	switch {
	case cfg.Early != nil && ownOnly:
		shared.OVS = cfg.Early.clients
	default:
		if cfg.Early != nil {
			cfg.Early.Close() // they monitor too little for this set
		}
		shared.OVS = ovs.New(ovs.Options{Node: cfg.Node, Logger: cfg.Logger, Secrets: cfg.Secrets, OwnInterfacesOnly: ownOnly})
	}
	provs := registry(cfg, shared)
	for _, r := range provs {
		if reader, ok := r.(TopologyReader); ok {
			for _, p := range provs {
				if s, ok := p.(topology.Source); ok {
					reader.AddSource(s)
				}
			}
		}
	}
	return provs, nil
}

// Close releases what the providers hold (connections to their servers),
// once the engine has stopped using them.
func Close(provs []reconciler.Provider) {
	for _, p := range provs {
		if c, ok := p.(interface{ Close() }); ok {
			c.Close()
		}
	}
}

// readsInterfaces reports whether an object of node in set needs every
// row of OVS's Interface table: a ContainerPort (ovs-docker's ports to
// adopt) or a SkyDiveExport (the topology's interfaces).
func readsInterfaces(set *spec.Set, node string) bool {
	for _, o := range set.ForNode(node) {
		if o.Kind == container.Kind || o.Kind == skydive.Kind {
			return true
		}
	}
	return false
}
