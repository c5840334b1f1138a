package status

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// FleetPagePath is the fleet page's path on the status branch, where
// forges render it as the branch's front page.
const FleetPagePath = "README.md"

// ErrFoldRefused means the status branch moved while a Fold built its
// commit (another aggregator, or a daemon of an older version writing the
// branch directly): nothing was lost, the next Fold builds on the new head.
var ErrFoldRefused = errors.New("status branch moved during the fold")

// AggregatorOptions configure an Aggregator.
type AggregatorOptions struct {
	// URL of the status repository, Auth to reach it.
	URL  string
	Auth transport.AuthMethod
	// Branch is the browsable status branch; DefaultBranch when empty.
	Branch string
	// RefPrefix is where the node refs are; DefaultRefPrefix when empty.
	RefPrefix string
	// CacheDir is the Aggregator's own cache, shared with nothing else.
	CacheDir string
	// Author and Email sign the fold commits; "wirekeeper" and
	// "wirekeeper@localhost" when empty.
	Author, Email string
	// Interval is the daemons' poll interval, which the fleet page uses to
	// tell silent nodes; 30s when zero.
	Interval time.Duration
	// Render renders the fleet page from every node's status; RenderFleet
	// when nil. It must be deterministic.
	Render func(map[string]*reconciler.NodeStatus, FleetOptions) []byte
	// Logger receives folds; discarded when nil.
	Logger *slog.Logger
	// Now is the clock of commits and of the fleet page; time.Now when nil.
	Now func() time.Time
}

// FoldResult says what a Fold did.
type FoldResult struct {
	// Commit is the commit pushed to the status branch; zero when the
	// branch already held every node ref's files and the same fleet page.
	Commit plumbing.Hash
	// Nodes are the nodes whose files the commit changed, sorted.
	Nodes []string
	// Fetched is false when nothing moved since the last Fold and nothing
	// was downloaded.
	Fetched bool
}

// Aggregator folds the node refs into the browsable status branch: one
// commit for all the nodes that changed since the last fold, with the
// fleet page at the root. Only the daemon holding the Lease runs it, but
// two at once are safe: the push is a compare-and-swap on the branch
// head, and the loser's next Fold starts from the winner's commit. Its
// methods are safe for concurrent use.
type Aggregator struct {
	opts   AggregatorOptions
	remote *repoRemote
	branch plumbing.ReferenceName
	log    *slog.Logger

	mu    sync.Mutex
	cache *cache
	// seen are the node refs and the branch as of the last Fold that
	// looked at them; nothing to do while the remote advertises the same.
	seen refMap
	// rendered is when the fleet page was last rendered, for head: it is
	// rendered again when no ref moved only if the spec head changed or
	// the time passed since then turned nodes silent.
	rendered time.Time
	head     SpecHead
	// parsed caches parsed statuses by their files' blob hashes.
	parsed  map[[2]plumbing.Hash]*reconciler.NodeStatus
	commits int
}

// NewAggregator checks opts, fills defaults and opens the cache. It does
// not contact the remote.
func NewAggregator(opts AggregatorOptions) (*Aggregator, error) {
	r, err := openRemote(opts.URL, opts.Auth)
	if err != nil {
		return nil, fmt.Errorf("status: aggregator: %w", err)
	}
	if opts.CacheDir == "" {
		return nil, errors.New("status: aggregator: CacheDir is required")
	}
	branch, prefix, err := checkRefs(opts.Branch, opts.RefPrefix)
	if err != nil {
		return nil, fmt.Errorf("status: aggregator: %w", err)
	}
	opts.Branch, opts.RefPrefix = branch.Short(), prefix
	opts.Author = cmp.Or(opts.Author, "wirekeeper")
	opts.Email = cmp.Or(opts.Email, "wirekeeper@localhost")
	opts.Interval = cmp.Or(opts.Interval, 30*time.Second)
	if opts.Render == nil {
		opts.Render = RenderFleet
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := openCache(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	return &Aggregator{
		opts: opts, remote: r, branch: branch, cache: c,
		log:    log.With("component", "aggregator", "branch", opts.Branch),
		parsed: map[[2]plumbing.Hash]*reconciler.NodeStatus{},
	}, nil
}

// SpecHead is what the caller knows of the spec branch the nodes follow,
// for the fleet page. Its zero value compares no node with a revision.
type SpecHead struct {
	// Branch is the spec branch; Revision its head, committed At.
	Branch   string
	Revision string
	At       time.Time
	// Set is the spec set at Revision, or the newest one the caller has
	// (sites, nodes that never reported); nil: neither is shown.
	Set *spec.Set
}

// same reports whether h and o would render the same fleet page.
func (h SpecHead) same(o SpecHead) bool {
	return h.Branch == o.Branch && h.Revision == o.Revision && h.At.Equal(o.At) && h.Set == o.Set
}

// Fold makes the status branch hold every node ref's files, and the fleet
// page rendered from every node's status (nodes without a ref keep their
// files on the branch), in one commit on the branch head pushed as a
// compare-and-swap; no commit when the tree would not change. head is the
// spec branch head the caller knows, for the fleet page. When the remote
// advertises the same refs as at the last Fold, head is the same and no
// node turned silent since, Fold downloads nothing and renders nothing. A
// refused push is ErrFoldRefused; an unreachable remote wraps
// ErrUnreachable.
func (a *Aggregator) Fold(ctx context.Context, head SpecHead) (FoldResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res, err := a.fold(ctx, head)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		case isRejection(err):
			err = fmt.Errorf("%w: %w", ErrFoldRefused, err)
		case isPermanent(err):
			err = fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return res, fmt.Errorf("status: fold into %s of %s: %w", a.opts.Branch, a.opts.URL, err)
	}
	return res, nil
}

func (a *Aggregator) fold(ctx context.Context, head SpecHead) (FoldResult, error) {
	if err := a.cache.ensure(); err != nil {
		return FoldResult{}, err
	}
	now := a.opts.Now()
	due := !head.same(a.head) || a.rendered.IsZero() || a.turnedSilent(now)
	var picked, moved refMap
	fetched := false
	_, err := a.remote.fetch(ctx, a.cache.storer(), func(refs refMap) (wants, haves []plumbing.Hash) {
		picked = a.pick(refs)
		if !due && maps.Equal(picked, a.seen) {
			return nil, nil
		}
		fetched = true
		moved = a.moved(picked)
		for name, h := range moved {
			wants = append(wants, h)
			if have := a.cache.head(name); !have.IsZero() {
				haves = append(haves, have)
			}
		}
		return wants, haves
	})
	if err != nil || !fetched {
		return FoldResult{}, err
	}
	for name := range a.seen {
		if _, ok := picked[name]; !ok {
			if err := a.cache.setHead(name, plumbing.ZeroHash); err != nil {
				return FoldResult{}, err
			}
		}
	}
	for name, h := range moved {
		if err := a.cache.setHead(name, h); err != nil {
			return FoldResult{}, err
		}
	}
	res, err := a.build(ctx, picked[a.branch], moved, head, now)
	if err != nil {
		return res, err
	}
	res.Fetched = true
	a.rendered, a.head = now, head
	if !res.Commit.IsZero() {
		picked[a.branch] = res.Commit
	}
	a.seen = picked
	return res, nil
}

// turnedSilent reports whether nodes that had not answered the spec head
// at the last render are silent now: the one way time alone changes the
// fleet page.
func (a *Aggregator) turnedSilent(now time.Time) bool {
	from := a.fleetOptions(a.head, now).Check().SilentFrom()
	return !from.IsZero() && !a.rendered.After(from) && now.After(from)
}

// fleetOptions are the fleet page's options for head at now.
func (a *Aggregator) fleetOptions(head SpecHead, now time.Time) FleetOptions {
	return FleetOptions{Now: now, Interval: a.opts.Interval, NewestRevision: head.Revision, NewestAt: head.At, Branch: head.Branch, Spec: head.Set}
}

// moved returns the refs of picked that moved since the last Fold: all of
// them when the branch is no longer where that Fold left it (another
// writer's files may be anywhere on it), or when there was none.
func (a *Aggregator) moved(picked refMap) refMap {
	if a.seen == nil || picked[a.branch] != a.seen[a.branch] {
		return picked
	}
	out := refMap{}
	for name, h := range picked {
		if a.seen[name] != h {
			out[name] = h
		}
	}
	return out
}

// pick selects the node refs and the branch from an advertisement.
func (a *Aggregator) pick(refs refMap) refMap {
	out := refMap{}
	for name, h := range refs {
		if _, ok := nodeOf(a.opts.RefPrefix, name); ok || name == a.branch {
			out[name] = h
		}
	}
	return out
}

// damaged wipes a cache that failed to read its own objects, so that the
// next Fold fetches everything again, and returns err.
func (a *Aggregator) damaged(err error) error {
	a.cache.reset(a.log, err)
	a.seen = nil
	return err
}

func (a *Aggregator) compact() {
	packs, err := a.cache.packs()
	if err == nil && packs <= 32 && a.commits < 256 {
		return
	}
	a.commits = 0
	if err := a.cache.compact(); err != nil {
		a.damaged(err)
	}
}
