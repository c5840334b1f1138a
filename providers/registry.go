package providers

import (
	"log/slog"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// Config is what every provider is built from: the daemon's node and logger.
// Per-object settings (addresses, credentials references) come from the
// specs themselves.
type Config struct {
	Node   string
	Logger *slog.Logger
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
		return ovsdb.New(ovsdb.Options{Node: c.Node, Logger: c.Logger}), nil
	}},
}

// All returns the providers built into this wirekeeper, in registry order.
// A kind no provider claims is reported Pending by the engine.
func All() []Factory { return append([]Factory(nil), registry...) }

// Build builds every registered provider for cfg.
func Build(cfg Config) ([]reconciler.Provider, error) {
	var out []reconciler.Provider
	for _, f := range registry {
		p, err := f.New(cfg)
		if err != nil {
			return nil, err
		}
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
