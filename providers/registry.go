package providers

import (
	"fmt"
	"log/slog"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// Config is what every provider is built from: the daemon's node and logger.
// Per-object settings (addresses, credentials references) come from the
// specs themselves.
type Config struct {
	Node   string
	Logger *slog.Logger
	// OVSNetns is the network namespace ovs-vswitchd runs in; DockerHost
	// the Docker engine (both empty for the defaults).
	OVSNetns, DockerHost string
	// Secrets reads the secrets and TLS files specs name, confined to the
	// operator's secrets directory (nil: the default directory).
	Secrets *secret.Store
	// built are the providers built before this one, by name, for the
	// providers that work through another (container ports through OVSDB).
	built map[string]reconciler.Provider
	order []reconciler.Provider
}

// sources are the providers built so far that add a part of the
// topology, in registry order.
func (c Config) sources() []topology.Source {
	var out []topology.Source
	for _, p := range c.order {
		if s, ok := p.(topology.Source); ok {
			out = append(out, s)
		}
	}
	return out
}

// Factory builds one provider.
type Factory struct {
	// Name identifies the provider ("ovsmirror"); Kinds are the spec kinds
	// it reconciles, known before it is built.
	Name  string
	Kinds []string
	New   func(Config) (reconciler.Provider, error)
}

// registry is the ordered list of the providers built into wirekeeper. Each
// provider's issue adds its one line here.
var registry = []Factory{
	{Name: "ovsdb", Kinds: ovsdb.Kinds, New: func(c Config) (reconciler.Provider, error) {
		return ovsdb.New(ovsdb.Options{Node: c.Node, Logger: c.Logger, Secrets: c.Secrets}), nil
	}},
	{Name: "container", Kinds: container.Kinds, New: func(c Config) (reconciler.Provider, error) {
		ovs, ok := c.built["ovsdb"].(*ovsdb.Provider)
		if !ok {
			return nil, fmt.Errorf("providers: the container provider needs the ovsdb provider built first")
		}
		return container.New(container.Options{Node: c.Node, Logger: c.Logger, OVS: ovs,
			OVSNetns: c.OVSNetns, DockerHost: c.DockerHost}), nil
	}},
	{Name: "collector", Kinds: collector.Kinds, New: func(c Config) (reconciler.Provider, error) {
		return collector.New(collector.Options{Node: c.Node, Logger: c.Logger, Secrets: c.Secrets}), nil
	}},
	{Name: "skydive", Kinds: skydive.Kinds, New: func(c Config) (reconciler.Provider, error) {
		return skydive.New(skydive.Options{Node: c.Node, Logger: c.Logger, Sources: c.sources(), Secrets: c.Secrets}), nil
	}},
}

// All returns the providers built into this wirekeeper, in registry order.
// A kind no provider claims is reported Pending by the engine.
func All() []Factory { return append([]Factory(nil), registry...) }

// Build builds every registered provider for cfg.
func Build(cfg Config) ([]reconciler.Provider, error) {
	var out []reconciler.Provider
	cfg.built = map[string]reconciler.Provider{}
	for _, f := range registry {
		p, err := f.New(cfg)
		if err != nil {
			return nil, err
		}
		cfg.built[f.Name] = p
		cfg.order = append(cfg.order, p)
		out = append(out, p)
	}
	return out, nil
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
