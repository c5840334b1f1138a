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
	// Mirror, a *spec.MirrorSpec), holding what the live system has; nil
	// when the object does not exist. The engine completes it before it
	// compares: the fields no live system records (`wk:"placement"`: node,
	// manager, policy) are taken from the desired spec, and the lists whose
	// order the live system does not keep (`wk:"unique"`) are put in the
	// desired order. A provider may leave those alone.
	Live any
	// Degraded, when non-empty, says why an object that matches its spec is
	// still not working (a link down, a collector behind); the engine
	// reports the object as Degraded with this message.
	Degraded string
	// Adoptable reports that the live object lacks the ownership marker
	// but is the one the spec means (same name, same place) and may be
	// taken over: the engine applies an update, which writes the marker,
	// and records the adoption in the drift report. Ignored when Owned.
	Adoptable bool
	// Pending, when non-empty, says why the object cannot be brought about
	// yet: something outside the spec is missing (a mirror's output port,
	// the bridge it sits on). The engine reports the object Pending with
	// this message, changes nothing, and waits for the provider's watcher
	// to enqueue it.
	Pending string
	// Extra lists differences the spec type cannot hold: live properties
	// the spec implies without naming them (a container port's link that
	// is down: Path "link.container.up", From false, To true). From is the
	// live value, To the one the spec implies. The engine treats them like
	// the field differences of Live: an update under policy enforce, a
	// report under observe, an entry in the drift report.
	Extra []FieldDiff
	// Stale, with Pending, says that the live object belongs to a
	// prerequisite that went away (the port of a container that stopped):
	// the engine deletes it (policy enforce) and reports the object
	// Pending until the prerequisite is back.
	Stale bool
	// Details are facts about a working object worth showing in its
	// status (a collector's interfaces, watermarks and message counts),
	// one "label: value" line each. Providers refresh them sparingly:
	// every change is a status commit.
	Details []string
	// Unmanaged lists live objects found under this one that are neither
	// in the spec nor owned (foreign mirrors on a manager), left untouched
	// and shown in the status.
	Unmanaged []string
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

// Settler is implemented by providers whose Observe reads a cache that a
// write reaches a moment after Apply returns (an OVSDB monitor's view).
// After an apply, the engine observes again each time Changed's channel
// closes, for at most Options.SettleTimeout, until the object shows the
// change; only then does it report a difference.
type Settler interface {
	// Changed returns a channel closed at the next change of what Observe
	// reads.
	Changed() <-chan struct{}
}

// PhaseObserver is implemented by providers that show the engine's view of
// objects alongside the live system (the SkyDive export puts each object's
// phase on its nodes).
type PhaseObserver interface {
	// ObjectPhase is called after the phase of ref changed, with "" once the
	// engine has forgotten a pruned object. It runs on an engine worker and
	// must not block.
	ObjectPhase(ref Ref, phase Phase)
}

// Apply is one change of a batch.
type Apply struct {
	Req    Request
	Change Change
}

// BatchApplier is implemented by providers that carry out many changes in
// one round trip (one OVSDB transaction per manager). The engine hands it
// every change of one reconcile pass for the provider. ApplyBatch returns
// one error per item, in order (nil where the change took effect); a
// failure of one item must not fail the others.
type BatchApplier interface {
	ApplyBatch(ctx context.Context, items []Apply) []error
}
