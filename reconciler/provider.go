package reconciler

import (
	"context"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Ref names one object of the spec: its kind and metadata.name.
type Ref struct {
	Kind string `json:"kind" yaml:"kind"`
	Name string `json:"name" yaml:"name"`
}

// RefOf returns the Ref of a spec object.
func RefOf(o *spec.Object) Ref { return Ref{Kind: o.Kind, Name: o.Metadata.Name} }

// String renders the ref as Kind/name, the form used in logs and reports.
func (r Ref) String() string { return r.Kind + "/" + r.Name }

// Request is what the engine hands a provider for one object.
type Request struct {
	Ref Ref
	// Desired is the object as the enforced revision has it, with defaults
	// filled; nil when the object was removed from git and is being pruned.
	Desired *spec.Object
	// Last is the object as the previously enforced revision had it, when it
	// had it: for a pruned object, where to find it (its manager, its node).
	Last *spec.Object
	// Set is the whole enforced revision, for references such as the
	// OVSManager a Mirror names.
	Set *spec.Set
	// Revision is the commit the desired state comes from.
	Revision string
}

// Observation is the live state of one object, as a provider sees it.
type Observation struct {
	// Exists reports whether the object is present in the live system.
	Exists bool
	// Owned reports whether the live object carries wirekeeper's ownership
	// marker (for instance in OVSDB external_ids). Only owned objects are
	// updated in place or pruned; an unowned one in the way is reported.
	Owned bool
	// Live is the live object in the form of the kind's spec type (for a
	// Mirror, a *spec.MirrorSpec), holding what the live system has. Fields
	// the live system does not record (policy, node, manager) are copied
	// from the desired spec, and lists whose order the live system does not
	// keep are put in the desired order, so that the engine's field diff
	// shows only real differences. Nil when the object does not exist.
	Live any
	// Degraded, when non-empty, says why an object that matches its spec is
	// still not working (a link down, a collector behind); the engine
	// reports the object as Degraded with this message.
	Degraded string
}

// Provider is one kind of live system. The engine owns the decisions
// (create, update, delete or nothing, retries, policies, status); a
// provider only reads and writes its system.
type Provider interface {
	// Name identifies the provider in logs, metrics and errors ("ovsmirror").
	Name() string
	// Kinds lists the spec kinds the provider reconciles.
	Kinds() []string
	// Observe reads the live state of req.Ref. It never changes anything and
	// reports an absent object as Observation{Exists: false}, not an error.
	Observe(ctx context.Context, req Request) (Observation, error)
	// Apply carries out ch (create, update or delete) on the live system.
	// It is idempotent: applying a change that already took effect is not an
	// error. What it creates carries the ownership marker.
	Apply(ctx context.Context, req Request, ch Change) error
	// Owned lists this node's live objects that carry the ownership marker,
	// so that the engine can prune those no longer in the spec. set is the
	// enforced revision (for the managers to look on).
	Owned(ctx context.Context, set *spec.Set) ([]Ref, error)
}

// Watcher is implemented by providers that learn about live changes on their
// own (an OVSDB monitor, the Docker event stream).
type Watcher interface {
	// Watch runs until ctx ends, calling enqueue with every object whose
	// live state may have changed. enqueue never blocks; the engine's queue
	// collapses repeated keys.
	Watch(ctx context.Context, enqueue func(Ref)) error
}
