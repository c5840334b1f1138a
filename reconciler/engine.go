package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Revision identifies the spec commit an engine enforces.
type Revision struct {
	Hash    string
	Message string
}

// Short is the abbreviated hash used in messages.
func (r Revision) Short() string { return ShortHash(r.Hash) }

// ShortHash abbreviates a commit hash to the seven characters people see.
func ShortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// AllowPruneTrailer in a commit message lets a revision prune more than the
// prune guard allows.
const AllowPruneTrailer = "wirekeeper: allow-prune"

// Options configures an Engine.
type Options struct {
	// Node is the node this daemon applies objects for.
	Node string
	// Providers reconcile the kinds; a kind without a provider stays Pending.
	Providers []Provider
	// Events is where the providers report live changes (nil: none do):
	// from New on, what they report is queued, and reconciled once Run runs.
	Events *Events
	// Workers is how many reconcile passes run at once (default 4).
	Workers int
	// BatchSize is the most objects one pass takes from the queue (default
	// 1000); their changes reach a BatchApplier provider in one call.
	BatchSize int
	// Resync is the jittered delay after which an object that converged is
	// observed again (default 30s); 0 keeps the default.
	Resync time.Duration
	// BackoffBase and BackoffMax bound the per-object retry delay after a
	// failure (defaults 1s and 5m).
	BackoffBase, BackoffMax time.Duration
	// MaxPruneFraction is the largest share of this node's owned objects a
	// revision may prune without the allow-prune trailer (default 0.5; a
	// negative value disables pruning beyond zero objects).
	MaxPruneFraction float64
	// SettleTimeout bounds how long the confirm of an apply waits for a
	// Settler provider's cache to show it (default 2s).
	SettleTimeout time.Duration
	// OwnedTimeout bounds the providers' Owned listing at a revision change
	// (default 30s).
	OwnedTimeout time.Duration
	Logger       *slog.Logger
	// Hooks receive measurements; nil fields are skipped.
	Hooks Hooks
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Hooks let the daemon feed metrics without the engine knowing Prometheus.
type Hooks struct {
	Reconciled func(kind, result string, d time.Duration)
	Applied    func(kind string, action Action, err error)
	Drifted    func(kind string, repaired bool)
	QueueDepth func(n int)
}

// Engine converges one node's objects on a spec revision through the
// providers: per object observe -> plan -> apply (or report) -> observe
// again, each object on its own, with its own backoff.
type Engine struct {
	opts   Options
	log    *slog.Logger
	byKind map[string]Provider
	// phaseObservers are the providers told of every phase change.
	phaseObservers []PhaseObserver
	q              *queue
	backoff        *backoff

	mu      sync.Mutex
	rev     Revision
	set     *spec.Set
	desired map[Ref]*spec.Object
	prune   map[Ref]bool // owned objects to remove
	objects map[Ref]*objectState
	drift   []*DriftEvent // newest first
	refused *RefusedRevision
	source  *SourceProblem
	changed chan struct{}
}

// objectState is the engine's memory of one object. The reconcile of an
// object reaches everything it needs from here, without further lookups.
type objectState struct {
	// desired is the object in the enforced revision (nil when pruning);
	// last is where a pruned object was in the revision before.
	desired, last *spec.Object
	pruning       bool
	// deps are the objects this one waits for; rdeps those waiting for it;
	// blockers the pruned objects to be removed before this pruned one.
	deps     []*objectState
	rdeps    []Ref
	blockers []*objectState
	status   ObjectStatus
	// synced is the spec the live object was last confirmed to equal; a
	// later difference under the same spec is drift, not a spec change.
	synced any
	// restoredReady is the revision an earlier run of the daemon last saw
	// the object Ready at; until the object converges again, a difference
	// under that same revision is drift that happened while it was down.
	restoredReady string
	// openDrift is the drift event not repaired yet.
	openDrift *DriftEvent
	// phaseTold is set once the phase observers heard of the object.
	phaseTold bool
	// restoredOnly is set while the object has only the phase an earlier
	// run left (Restore), not one of this run's.
	restoredOnly bool
}

// New returns an engine for opts.Node. Call SetRevision to give it specs and
// Run to start it.
func New(opts Options) (*Engine, error) {
	if opts.Node == "" {
		return nil, errors.New("reconciler: a node name is required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Resync <= 0 {
		opts.Resync = 30 * time.Second
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.MaxPruneFraction == 0 {
		opts.MaxPruneFraction = 0.5
	}
	if opts.SettleTimeout <= 0 {
		opts.SettleTimeout = 2 * time.Second
	}
	if opts.OwnedTimeout <= 0 {
		opts.OwnedTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		opts:    opts,
		log:     opts.Logger,
		byKind:  map[string]Provider{},
		q:       newQueue(opts.Now),
		backoff: newBackoff(opts.BackoffBase, opts.BackoffMax),
		desired: map[Ref]*spec.Object{},
		prune:   map[Ref]bool{},
		objects: map[Ref]*objectState{},
		changed: make(chan struct{}, 1),
	}
	if opts.Events != nil {
		opts.Events.Attach(e.Enqueue) // queued until Run, ignored after it
	}
	for _, p := range opts.Providers {
		if o, ok := p.(PhaseObserver); ok {
			e.phaseObservers = append(e.phaseObservers, o)
		}
		for _, k := range p.Kinds() {
			if other, dup := e.byKind[k]; dup {
				return nil, fmt.Errorf("reconciler: kind %s is claimed by providers %s and %s", k, other.Name(), p.Name())
			}
			e.byKind[k] = p
		}
	}
	return e, nil
}

// Changed receives a value whenever the status changed; it never blocks the
// engine (one pending notification at most).
func (e *Engine) Changed() <-chan struct{} { return e.changed }

// phaseChanged tells the phase observers; callers do not hold e.mu.
func (e *Engine) phaseChanged(ref Ref, phase Phase) {
	for _, o := range e.phaseObservers {
		o.ObjectPhase(ref, phase)
	}
}

func (e *Engine) notify() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// Enqueue asks for ref to be reconciled soon; safe from any goroutine.
func (e *Engine) Enqueue(ref Ref) { e.q.Add(ref) }

// Resync enqueues every object the engine knows: desired and to be pruned.
func (e *Engine) Resync() {
	e.mu.Lock()
	refs := make([]Ref, 0, len(e.desired)+len(e.prune))
	for r := range e.desired {
		refs = append(refs, r)
	}
	for r := range e.prune {
		refs = append(refs, r)
	}
	e.mu.Unlock()
	for _, r := range refs {
		e.q.Add(r)
	}
}

// Run reconciles until ctx ends, then lets in-flight reconciles finish
// (they see a cancelled context only after their apply returns) and
// returns. What the providers report through Options.Events is
// reconciled meanwhile.
func (e *Engine) Run(ctx context.Context) error {
	work := context.WithoutCancel(ctx) // an apply in flight is finished, not torn
	var wg sync.WaitGroup
	for range e.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				refs, ok := e.q.GetBatch(e.opts.BatchSize)
				if !ok {
					return
				}
				if ctx.Err() != nil {
					// Stopping: a key re-added while the last pass ran
					// is not started; the next run resyncs it.
					for _, ref := range refs {
						e.q.Done(ref)
					}
					return
				}
				e.processBatch(work, refs)
				for _, ref := range refs {
					e.q.Done(ref)
				}
				if e.opts.Hooks.QueueDepth != nil {
					e.opts.Hooks.QueueDepth(e.q.Len())
				}
			}
		}()
	}
	<-ctx.Done()
	e.q.ShutDown()
	wg.Wait()
	return nil
}

// Idle reports whether no key is ready or being processed; delayed requeues
// do not count. For tests and benchmarks.
func (e *Engine) Idle() bool {
	e.q.mu.Lock()
	defer e.q.mu.Unlock()
	return len(e.q.order) == 0 && e.q.held == 0
}

// pruneRefused is the prune guard: pruning prune of a node's owned
// objects is refused when it is more than fraction of them, unless message
// carries the allow-prune trailer. The engine, the pull-request plan and
// the live diff all judge by it.
func pruneRefused(prune, owned int, fraction float64, message string) bool {
	return prune > 0 && float64(prune) > fraction*float64(owned) && !strings.Contains(message, AllowPruneTrailer)
}

// PruneGuardError refuses a revision that would prune too much.
type PruneGuardError struct {
	Prune, Owned int
	Fraction     float64
	Refs         []Ref
}

func (e *PruneGuardError) Error() string {
	names := make([]string, 0, min(len(e.Refs), 5))
	for i, r := range e.Refs {
		if i == 5 {
			names = append(names, "...")
			break
		}
		names = append(names, r.String())
	}
	return fmt.Sprintf("reconciler: the revision would prune %d of this node's %d owned objects (%s), more than the allowed fraction %.2f; add %q to the commit message to allow it",
		e.Prune, e.Owned, strings.Join(names, ", "), e.Fraction, AllowPruneTrailer)
}
