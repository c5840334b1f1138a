package status

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// The aggregator is elected with a lease ref on the status repository:
// taking, renewing and releasing it are pushes naming the value the pusher
// last saw (a compare-and-swap, which the remote checks under its ref
// lock), so at most one of two daemons racing for it wins. Nobody compares
// clocks across hosts: a daemon that is not the holder decides the lease
// is dead when the ref's hash has not changed for a TTL by its own
// monotonic clock; the holder renews every TTL/3 and steps down when it
// could not renew for a TTL.
//
// A lease commit is an orphan commit with the empty tree. Its content
// depends only on the holder, the TTL, when the tenure began and a beat
// counter that wraps at leaseBeats: every observer fetches the lease
// along with the spec branch, and go-git stores each fetch that brings
// objects as a pack of its own, so commits that never repeated would add
// a pack per renewal to every daemon's spec cache forever. With the wrap,
// a tenure makes at most leaseBeats commits. The released lease is a
// single fixed commit, so an observer recognizes it by its hash alone.

// leaseBeats is how many distinct lease commits a tenure cycles through.
// Consecutive beats always differ, which is all liveness needs.
const leaseBeats = 16

const leaseSubject = "wirekeeper: status aggregator lease"

// releasedLease is the commit a holder leaves when it stops.
var releasedLease = func() plumbing.Hash {
	h, _, err := leaseCommit(memory.NewStorage(), "", 0, time.Unix(0, 0), 0)
	if err != nil {
		panic(err)
	}
	return h
}()

// leaseCommit writes the lease commit of holder's tenure since since, at
// beat; holder "" writes the released lease. It returns the commit and the
// objects to push.
func leaseCommit(s storer.EncodedObjectStorer, holder string, ttl time.Duration, since time.Time, beat int) (plumbing.Hash, []plumbing.Hash, error) {
	tw := &treeWriter{s: s, seen: map[plumbing.Hash]bool{}}
	tree, err := tw.store(&object.Tree{})
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	msg := leaseSubject + "\n\nreleased\n"
	if holder != "" {
		msg = fmt.Sprintf("%s\n\nholder: %s\nttl: %s\nsince: %s\nbeat: %d of %d\n",
			leaseSubject, holder, ttl, since.UTC().Format(time.RFC3339), beat%leaseBeats+1, leaseBeats)
	}
	sig := signature("wirekeeper", "wirekeeper@localhost", since.UTC().Truncate(time.Second))
	h, err := tw.store(&object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree})
	return h, tw.written, err
}

// LeaseOptions configure a Lease.
type LeaseOptions struct {
	// URL of the status repository, Auth to reach it.
	URL  string
	Auth transport.AuthMethod
	// Ref is the lease ref; LeaseRef(DefaultRefPrefix) when empty.
	Ref plumbing.ReferenceName
	// Holder is this daemon's node name, written into the lease.
	Holder string
	// TTL is how long a lease whose ref does not change counts as held;
	// the holder renews every TTL/3. Default 90s, at least 3s.
	TTL time.Duration
	// Logger receives takeovers and losses; discarded when nil.
	Logger *slog.Logger
	// Now is the clock: a monotonic one (time.Now's readings carry one).
	// Tests drive it by hand.
	Now func() time.Time
}

// Lease is one daemon's part in the election of the aggregator. The
// daemon feeds it what it sees of the lease ref (Observe, from the spec
// fetch, at no cost of its own) and calls Step regularly; Step takes a
// free or dead lease, renews a held one, and says whether this daemon is
// the aggregator. Its methods are safe for concurrent use.
type Lease struct {
	opts   LeaseOptions
	remote *repoRemote
	log    *slog.Logger
	store  *memory.Storage // lease commits are built here

	mu       sync.Mutex
	held     bool
	current  plumbing.Hash // the ref's value as last seen or pushed; zero: no ref
	known    bool          // current has been seen at all
	changed  time.Time     // when current was first seen with its value
	observed time.Time     // when current was last confirmed
	renewed  time.Time     // the holder's last successful push
	since    time.Time     // the holder's tenure start (wall clock, for people)
	beat     int
}

// NewLease checks opts and fills the defaults; it does not contact the remote.
func NewLease(opts LeaseOptions) (*Lease, error) {
	r, err := openRemote(opts.URL, opts.Auth)
	if err != nil {
		return nil, fmt.Errorf("status: lease: %w", err)
	}
	opts.Ref = cmp.Or(opts.Ref, LeaseRef(DefaultRefPrefix))
	if err := opts.Ref.Validate(); err != nil {
		return nil, fmt.Errorf("status: lease: invalid ref %q: %w", opts.Ref, err)
	}
	if err := checkNode(opts.Holder); err != nil {
		return nil, fmt.Errorf("status: lease: holder: %w", err)
	}
	opts.TTL = cmp.Or(opts.TTL, 90*time.Second)
	if opts.TTL < 3*time.Second {
		return nil, fmt.Errorf("status: lease: TTL %s is too short: at least 3s", opts.TTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lease{opts: opts, remote: r, store: memory.NewStorage(),
		log: log.With("component", "lease", "ref", opts.Ref.String())}, nil
}

// Ref returns the lease ref.
func (l *Lease) Ref() plumbing.ReferenceName { return l.opts.Ref }

// Held reports whether this daemon holds the lease, as of the last Step.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Observe records the lease ref's hash as a fetch of the status repository
// saw it just now (zero: no such ref). The holder ignores observations:
// a fetch that started before its last renewal shows an older value, and
// its own pushes tell it everything.
func (l *Lease) Observe(h plumbing.Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observe(h, l.opts.Now())
}

func (l *Lease) observe(h plumbing.Hash, now time.Time) {
	if l.held {
		return
	}
	if !l.known || h != l.current {
		l.current, l.known, l.changed = h, true, now
	}
	l.observed = now
}

// Step does what is due and reports whether this daemon holds the lease:
// the holder renews every TTL/3 and steps down when it could not for a
// TTL, or when it finds the lease taken; any other daemon takes the lease
// when it is free (no ref, or released) or dead (its hash unchanged for a
// TTL between two observations). When nothing was observed for a TTL (the
// lease ref is not in the fetch the daemon makes anyway: a separate
// status repository), Step asks the remote itself. err reports a failed
// request; the lease state is kept.
func (l *Lease) Step(ctx context.Context) (held bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	if l.held {
		if now.Sub(l.renewed) < l.opts.TTL/3 {
			return true, nil
		}
		err := l.push(ctx, l.beat+1, now)
		if err != nil && l.held && now.Sub(l.renewed) >= l.opts.TTL {
			l.held = false
			l.changed, l.observed = l.renewed, l.renewed
			l.log.Warn("stepped down: the lease could not be renewed for a TTL", "ttl", l.opts.TTL, "error", err)
		}
		return l.held, err
	}
	if !l.known || now.Sub(l.observed) >= l.opts.TTL {
		if err := l.poll(ctx, now); err != nil {
			return false, err
		}
	}
	free := l.current.IsZero() || l.current == releasedLease
	dead := l.observed.Sub(l.changed) >= l.opts.TTL
	if !free && !dead {
		return false, nil
	}
	l.since, l.beat = now, 0
	if err := l.push(ctx, 0, now); err != nil {
		return false, err
	}
	if l.held {
		why := "free"
		if !free {
			why = "dead: its hash did not change for a TTL"
		}
		l.log.Info("took the status aggregator lease", "holder", l.opts.Holder, "lease was", why)
	}
	return l.held, nil
}

// Release hands the lease back when this daemon holds it: the released
// commit, which every other daemon takes for free at its next poll. A
// daemon that does not hold it does nothing.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return nil
	}
	l.held = false
	_, objects, err := leaseCommit(l.store, "", 0, time.Unix(0, 0), 0)
	if err != nil {
		return fmt.Errorf("status: lease: %w", err)
	}
	if _, err := l.remote.push(ctx, l.store, refUpdate{ref: l.opts.Ref, old: l.current, new: releasedLease}, objects); err != nil {
		return fmt.Errorf("status: lease: release: %w", err)
	}
	l.current = releasedLease
	l.log.Info("released the status aggregator lease", "holder", l.opts.Holder)
	return nil
}

// push takes or renews the lease at beat. On success this daemon holds
// it; when the ref had moved, it does not, and the value the remote
// advertised counts as an observation.
func (l *Lease) push(ctx context.Context, beat int, now time.Time) error {
	commit, objects, err := leaseCommit(l.store, l.opts.Holder, l.opts.TTL, l.since, beat)
	if err != nil {
		return fmt.Errorf("status: lease: %w", err)
	}
	refs, err := l.remote.push(ctx, l.store, refUpdate{ref: l.opts.Ref, old: l.current, new: commit}, objects)
	switch {
	case err == nil:
		l.held, l.current, l.beat, l.renewed = true, commit, beat, now
		return nil
	case isRejection(err) && refs != nil:
		if l.held {
			l.log.Warn("lost the status aggregator lease: another daemon took it", "holder", l.opts.Holder)
		}
		l.held = false
		l.observe(refs[l.opts.Ref], now)
		return nil
	}
	return fmt.Errorf("status: lease: push %s: %w", l.opts.Ref, err)
}

// poll asks the remote for the lease ref, without downloading anything.
func (l *Lease) poll(ctx context.Context, now time.Time) error {
	refs, err := l.remote.fetch(ctx, l.store, func(refMap) (wants, haves []plumbing.Hash) { return nil, nil })
	if err != nil {
		return fmt.Errorf("status: lease: read %s: %w", l.opts.Ref, err)
	}
	l.observe(refs[l.opts.Ref], now)
	return nil
}

// IsReleasedLease reports whether h is the released lease commit.
func IsReleasedLease(h plumbing.Hash) bool { return h == releasedLease }
