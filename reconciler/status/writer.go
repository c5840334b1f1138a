package status

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Errors a Write may end with; both leave nothing half-done, so the caller
// keeps its files and calls Write again later.
var (
	// ErrUnreachable means the status remote could not be fetched from or
	// pushed to: connection refused, a name that does not resolve, a
	// repository that does not exist, bad credentials, or a connection that
	// kept breaking.
	ErrUnreachable = errors.New("status remote unreachable")
	// ErrContended means every push attempt found the node's ref moved by
	// someone else: a second daemon running with the same node name, or a
	// hook of the remote refusing the update.
	ErrContended = errors.New("status push kept being refused: is another daemon writing the same node?")
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// URL of the status repository: the spec repository unless the
	// operator chose another.
	URL string
	// Branch is the browsable status branch the Aggregator folds the node
	// refs into; DefaultBranch when empty. The Writer only reads it, for
	// nodes that have no ref yet (a fleet still on an older version).
	Branch string
	// RefPrefix is where the node refs live, one per node:
	// RefPrefix+<node>; DefaultRefPrefix when empty. It must end in '/'.
	RefPrefix string
	// Auth for the remote; nil for git://, file:// and local paths.
	Auth transport.AuthMethod
	// CacheDir holds the Writer's own bare repository (only the heads of
	// the refs it reads are kept). It must not be shared with the spec
	// source's cache nor with another Writer or Aggregator. A cache that
	// turns out corrupt is wiped and fetched again.
	CacheDir string
	// Author and Email sign the status commits as author and committer;
	// "wirekeeper" and "wirekeeper@localhost" when empty.
	Author, Email string
	// Logger receives retries and commits; discarded when nil.
	Logger *slog.Logger
	// MaxAttempts bounds the attempts of one Write; 20 when zero. A node's
	// ref has one writer, so an attempt is lost only to a broken connection
	// or to a second daemon misconfigured with the same node name; the
	// wait between attempts is jittered and doubles up to 10s.
	MaxAttempts int
	// Now is the commit time source; time.Now when nil.
	Now func() time.Time
}

// Writer commits nodes' status files, each node to its own ref
// (RefPrefix+<node>), and reads them back. Its methods are safe for
// concurrent use. A node's ref has a single writer, the node's daemon, so
// a write is a plain fast-forward that never waits for, nor retries
// because of, another node's write; the browsable branch is folded from
// the node refs by an Aggregator.
type Writer struct {
	opts   WriterOptions
	remote *repoRemote
	log    *slog.Logger
	branch plumbing.ReferenceName // the browsable branch on the remote

	mu    sync.Mutex
	cache *cache
	// known holds the nodes whose ref the cache has seen on the remote
	// (absent refs included) since the Writer was made: the cache's
	// tracking ref is then trusted, and an unchanged status costs no
	// request at all.
	known map[string]bool
	// commits counts commits since the cache was last compacted.
	commits int
	// compactEvery and compactPacks trigger compaction: after that many
	// commits, or with more packfiles than that (each fetch adds one).
	compactEvery, compactPacks int
	// minBackoff and maxBackoff bound the jittered wait between attempts.
	minBackoff, maxBackoff time.Duration
	// took is how long the last attempt took, the backoff's unit.
	took time.Duration
}

// NewWriter checks opts, fills defaults and opens (or creates) the cache. It
// does not contact the remote.
func NewWriter(opts WriterOptions) (*Writer, error) {
	r, err := openRemote(opts.URL, opts.Auth)
	if err != nil {
		return nil, fmt.Errorf("status: writer: %w", err)
	}
	if opts.CacheDir == "" {
		return nil, errors.New("status: writer: CacheDir is required")
	}
	branch, prefix, err := checkRefs(opts.Branch, opts.RefPrefix)
	if err != nil {
		return nil, fmt.Errorf("status: writer: %w", err)
	}
	opts.Branch, opts.RefPrefix = branch.Short(), prefix
	opts.Author = cmp.Or(opts.Author, "wirekeeper")
	opts.Email = cmp.Or(opts.Email, "wirekeeper@localhost")
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		opts:         opts,
		remote:       r,
		log:          log.With("component", "status", "refs", opts.RefPrefix),
		branch:       branch,
		known:        map[string]bool{},
		compactEvery: 256,
		compactPacks: 32,
		minBackoff:   10 * time.Millisecond,
		maxBackoff:   10 * time.Second,
	}
	c, err := openCache(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	w.cache = c
	return w, nil
}

// NodeRef returns the ref node's status is written to.
func (w *Writer) NodeRef(node string) plumbing.ReferenceName {
	return plumbing.ReferenceName(w.opts.RefPrefix + node)
}

// Write commits files, which must be among Paths(node), to the node's ref,
// creating the ref with a root commit when it is missing. When the ref
// already holds exactly these contents it returns (false, nil) and makes
// no commit; with a warm cache that costs no request. Otherwise the commit
// is the ref's tree with exactly these paths replaced, parented on the
// ref's head, and pushed as a compare-and-swap of that one ref; a refused
// push (the ref moved: a stale cache, or another daemon with the same node
// name) fetches the ref, rebuilds and retries, up to MaxAttempts times.
// committed reports whether this call made the commit that landed. Errors
// wrap ErrUnreachable or ErrContended, or the context's error; Write is
// safe to call again with the same files.
func (w *Writer) Write(ctx context.Context, node string, files Files, message string) (committed bool, err error) {
	if err := w.checkNode(node); err != nil {
		return false, err
	}
	own := Paths(node)
	for p := range files {
		if !slices.Contains(own, p) {
			return false, fmt.Errorf("status: write %s: %s is not one of the node's files %v", node, p, own)
		}
	}
	if len(files) == 0 {
		return false, nil
	}
	if strings.TrimSpace(message) == "" {
		message = fmt.Sprintf("status(%s): update", node)
	}
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	var pushed plumbing.Hash // the last commit pushed whose fate is unknown
	var lastErr error
	for attempt := 1; attempt <= w.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, backoff(attempt-1, max(w.minBackoff, w.took), w.minBackoff, w.maxBackoff)); err != nil {
				return false, fmt.Errorf("status: write %s: %w", node, err)
			}
		}
		start := time.Now()
		committed, done, err := w.attempt(ctx, node, files, message, &pushed)
		w.took = time.Since(start)
		if done {
			if err != nil {
				return false, fmt.Errorf("status: write %s to %s: %w", node, w.opts.URL, err)
			}
			if committed {
				w.log.Info("status committed", "node", node, "attempts", attempt,
					"subject", strings.SplitN(message, "\n", 2)[0])
			}
			return committed, nil
		}
		lastErr = err
		// Whatever went wrong, the next attempt asks the remote where the
		// ref is rather than trusting the cache.
		delete(w.known, node)
		w.log.Debug("status write attempt failed; retrying", "node", node, "attempt", attempt, "error", err)
	}
	if isRejection(lastErr) {
		return false, fmt.Errorf("status: write %s to %s: %w after %d attempts: %w", node, w.opts.URL, ErrContended, w.opts.MaxAttempts, lastErr)
	}
	return false, fmt.Errorf("status: write %s to %s: %w after %d attempts: %w", node, w.opts.URL, ErrUnreachable, w.opts.MaxAttempts, lastErr)
}

// attempt is one compare, commit and push, after a fetch of the node's ref
// when the cache cannot be trusted. done reports whether the outcome is
// final (success, or an error not worth retrying now).
func (w *Writer) attempt(ctx context.Context, node string, files Files, message string, pushed *plumbing.Hash) (committed, done bool, err error) {
	if err := w.cache.ensure(); err != nil {
		return false, true, err
	}
	ref := w.NodeRef(node)
	var head plumbing.Hash
	if w.known[node] {
		head = w.cache.head(ref)
	} else {
		refs, err := w.fetchRefs(ctx, func(refs refMap) []plumbing.ReferenceName { return []plumbing.ReferenceName{ref} })
		if err != nil {
			return false, w.final(ctx, err), w.classify(ctx, err)
		}
		head = refs[ref]
		w.known[node] = true
	}
	if !pushed.IsZero() && head == *pushed {
		return true, true, nil // the previous push landed but its answer was lost
	}
	have, err := readFiles(w.cache.storer(), head, Paths(node))
	if err != nil {
		w.resetCache(err)
		return false, false, err
	}
	if sameFiles(have, files) {
		return false, true, nil
	}
	built := newOverlay(w.cache.storer())
	commit, objects, err := commitFiles(built, head, files, signature(w.opts.Author, w.opts.Email, w.opts.Now()), message)
	if err != nil {
		w.resetCache(err)
		return false, false, err
	}
	if _, err := w.remote.push(ctx, built, refUpdate{ref: ref, old: head, new: commit}, objects); err != nil {
		*pushed = commit
		return false, w.final(ctx, err), w.classify(ctx, err)
	}
	if err := built.flush(); err != nil {
		// The commit landed; a cache that cannot take it is rebuilt by the next fetch.
		w.resetCache(err)
		return true, true, nil
	}
	// Remember the new head (after its objects): the next Write then
	// builds on it without asking the remote.
	if err := w.cache.setHead(ref, commit); err != nil {
		w.log.Warn("cannot record the pushed status head", "error", err)
		delete(w.known, node)
	}
	w.log.Debug("status pushed", "node", node, "ref", ref.String(), "commit", commit.String(), "parent", head.String())
	w.commits++
	w.compact()
	return true, true, nil
}

// fetchRefs brings the heads of the refs pick chooses (from the remote's
// advertisement) into the cache, records them as the cache's tracking refs
// (forgetting those the remote no longer has) and returns the remote's
// refs. w.mu is held.
func (w *Writer) fetchRefs(ctx context.Context, pick func(refMap) []plumbing.ReferenceName) (refMap, error) {
	var chosen []plumbing.ReferenceName
	refs, err := w.remote.fetch(ctx, w.cache.storer(), func(refs refMap) (wants, haves []plumbing.Hash) {
		chosen = pick(refs)
		for _, name := range chosen {
			if h, ok := refs[name]; ok {
				wants = append(wants, h)
			}
			if h := w.cache.head(name); !h.IsZero() {
				haves = append(haves, h)
			}
		}
		return wants, haves
	})
	if err != nil {
		return nil, err
	}
	for _, name := range chosen {
		if err := w.cache.setHead(name, refs[name]); err != nil {
			return nil, fmt.Errorf("record %s: %w", name, err)
		}
	}
	return refs, nil
}

// final reports whether err ends the Write at once: the context is done, or
// the remote cannot be reached at all (retrying in a few milliseconds would
// not help; the caller retries later).
func (w *Writer) final(ctx context.Context, err error) bool {
	return ctx.Err() != nil || isPermanent(err)
}

func (w *Writer) classify(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	case isPermanent(err):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

func (w *Writer) unreachable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// checkNode checks that node is a node name and makes a valid ref name.
func (w *Writer) checkNode(node string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	return checkNodeRef(w.opts.RefPrefix, node)
}

// compact repacks the cache now and then: every fetch leaves a packfile
// and every commit loose objects, which would slow lookups down forever.
func (w *Writer) compact() {
	packs, err := w.cache.packs()
	if err == nil && packs <= w.compactPacks && w.commits < w.compactEvery {
		return
	}
	w.commits = 0
	if err := w.cache.compact(); err != nil {
		w.resetCache(err)
	}
}
