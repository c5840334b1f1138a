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
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
)

// Errors a Write may end with; both leave nothing half-done, so the caller
// keeps its files and calls Write again later.
var (
	// ErrUnreachable means the status remote could not be fetched from or
	// pushed to: connection refused, a name that does not resolve, a
	// repository that does not exist, bad credentials, or a connection that
	// kept breaking.
	ErrUnreachable = errors.New("status remote unreachable")
	// ErrContended means every push attempt lost the race to other writers.
	ErrContended = errors.New("status push kept losing the race to other writers")
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// URL of the spec repository whose status branch is written.
	URL string
	// Branch is the status branch; DefaultBranch when empty.
	Branch string
	// Auth for the remote; nil for git://, file:// and local paths.
	Auth transport.AuthMethod
	// CacheDir holds the Writer's own bare repository (only the status
	// branch is fetched into it). It must not be shared with the spec
	// source's cache nor with another Writer. A cache that turns out corrupt
	// is wiped and fetched again.
	CacheDir string
	// Author and Email sign the status commits as author and committer;
	// "wirekeeper" and "wirekeeper@localhost" when empty.
	Author, Email string
	// Logger receives retries and commits; discarded when nil.
	Logger *slog.Logger
	// MaxAttempts bounds the attempts of one Write; 20 when zero. After a
	// lost race (or a broken connection) a writer waits a random time up to
	// a ceiling that doubles with each loss, counted in units of how long
	// its last attempt took (at least 10ms) and at most 10s: the slower the
	// remote and the more writers, the wider they spread, so that 50 writers
	// racing on one branch all land within the budget.
	MaxAttempts int
	// Now is the commit time source; time.Now when nil.
	Now func() time.Time
}

// Writer commits nodes' status files to the status branch. Its methods are
// safe for concurrent use; many Writers in many processes may write the same
// branch at once, each rebuilding its commit on the new head when its push is
// rejected, so no update is lost and no other node's files are touched.
type Writer struct {
	opts      WriterOptions
	endpoint  *transport.Endpoint
	transport transport.Transport
	log       *slog.Logger
	ref       plumbing.ReferenceName // the branch on the remote
	// tracking is where the fetched head is kept in the cache.
	tracking plumbing.ReferenceName

	mu    sync.Mutex
	cache *cache
	// commits counts commits since the cache was last compacted.
	commits int
	// compactEvery and compactPacks trigger compaction: after that many
	// commits, or with more packfiles than that (each fetch adds one).
	compactEvery, compactPacks int
	// minBackoff and maxBackoff bound the jittered wait between attempts.
	minBackoff, maxBackoff time.Duration
	// contention is the backoff level carried from one Write to the next.
	contention int
	// took is how long the last attempt took: backoff is counted in
	// attempts, since that is how long a writer holds the race window.
	took time.Duration
}

// NewWriter checks opts, fills defaults and opens (or creates) the cache. It
// does not contact the remote.
func NewWriter(opts WriterOptions) (*Writer, error) {
	if opts.URL == "" {
		return nil, errors.New("status: writer: URL is required")
	}
	ep, err := transport.NewEndpoint(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("status: writer: invalid URL %q: %w", opts.URL, err)
	}
	// source's transport, not go-git's client: it serves file:// and local
	// paths in-process, where go-git would run git-upload-pack and
	// git-receive-pack.
	tr, err := source.NewTransport(ep)
	if err != nil {
		return nil, fmt.Errorf("status: writer: %w", err)
	}
	if opts.CacheDir == "" {
		return nil, errors.New("status: writer: CacheDir is required")
	}
	opts.Branch = cmp.Or(opts.Branch, DefaultBranch)
	ref := plumbing.NewBranchReferenceName(opts.Branch)
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("status: writer: invalid branch %q: %w", opts.Branch, err)
	}
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
		endpoint:     ep,
		transport:    tr,
		log:          log.With("component", "status", "branch", opts.Branch),
		ref:          ref,
		tracking:     plumbing.ReferenceName("refs/remotes/origin/" + opts.Branch),
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

// Write commits files, which must be among Paths(node), to the status
// branch, creating the branch as an orphan when it is missing. When the
// branch already holds exactly these contents it returns (false, nil) and
// makes no commit. Otherwise the commit is the branch head's tree with
// exactly these paths replaced, pushed without force; a rejected push is
// rebuilt on the new head and retried up to MaxAttempts times. committed
// reports whether this call made the commit that landed. Errors wrap
// ErrUnreachable or ErrContended, or the context's error; Write is safe to
// call again with the same files.
func (w *Writer) Write(ctx context.Context, node string, files Files, message string) (committed bool, err error) {
	if err := checkNode(node); err != nil {
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
		// A writer that just fought its way through contention paces even
		// its next write's first attempt, so that it does not keep beating
		// writers that have been backing off for longer.
		if level := attempt - 1 + w.contention; level > 0 {
			if err := sleep(ctx, backoff(level, max(w.minBackoff, w.took), w.minBackoff, w.maxBackoff)); err != nil {
				return false, fmt.Errorf("status: write %s: %w", node, err)
			}
		}
		start := time.Now()
		committed, done, err := w.attempt(ctx, node, files, message, &pushed)
		w.took = time.Since(start)
		if done {
			w.contention = (w.contention + attempt - 1) / 2
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
		w.log.Debug("status write attempt failed; retrying", "node", node, "attempt", attempt, "error", err)
	}
	w.contention = (w.contention + w.opts.MaxAttempts) / 2
	if isRejection(lastErr) {
		return false, fmt.Errorf("status: write %s to %s: %w after %d attempts: %w", node, w.opts.URL, ErrContended, w.opts.MaxAttempts, lastErr)
	}
	return false, fmt.Errorf("status: write %s to %s: %w after %d attempts: %w", node, w.opts.URL, ErrUnreachable, w.opts.MaxAttempts, lastErr)
}

// attempt is one fetch, compare, commit and push. done reports whether the
// outcome is final (success, or an error not worth retrying now).
//
// When the files differ from what the cache last saw, the push connection
// is opened while the fetch runs: connecting (and the remote starting its
// receive-pack) then happens outside the window between reading the head
// and updating it, which is the window other writers can win the race in.
func (w *Writer) attempt(ctx context.Context, node string, files Files, message string, pushed *plumbing.Hash) (committed, done bool, err error) {
	if err := w.cache.ensure(); err != nil {
		return false, true, err
	}
	var early chan pushSession
	if !w.cachedSame(files, Paths(node)) {
		early = make(chan pushSession, 1)
		go func() { early <- w.openPush(ctx) }()
	}
	var ps pushSession
	received := false
	defer func() {
		if early != nil && !received {
			ps = <-early
		}
		ps.close()
	}()

	head, err := w.fetch(ctx)
	if err != nil {
		return false, w.final(ctx, err), w.classify(ctx, err)
	}
	if !pushed.IsZero() && head == *pushed {
		return true, true, nil // the previous push landed but its answer was lost
	}
	have, err := readFiles(w.cache.storer(), head, Paths(node))
	if err != nil {
		w.cache.reset(w.log, err)
		return false, false, err
	}
	if sameFiles(have, files) {
		return false, true, nil
	}
	built := newOverlay(w.cache.storer())
	commit, objects, err := commitFiles(built, head, files, signature(w.opts.Author, w.opts.Email, w.opts.Now()), message)
	if err != nil {
		w.cache.reset(w.log, err)
		return false, false, err
	}
	if early != nil {
		ps, received = <-early, true
	} else {
		ps = w.openPush(ctx)
	}
	if err := w.push(ctx, ps, built, head, commit, objects); err != nil {
		*pushed = commit
		return false, w.final(ctx, err), w.classify(ctx, err)
	}
	if err := built.flush(); err != nil {
		// The commit landed; a cache that cannot take it is rebuilt by the next fetch.
		w.cache.reset(w.log, err)
		return true, true, nil
	}
	// Remember the new head (after its objects): the next fetch then has
	// nothing to bring back.
	if err := w.cache.storer().SetReference(plumbing.NewHashReference(w.tracking, commit)); err != nil {
		w.log.Warn("cannot record the pushed status head", "error", err)
	}
	w.log.Debug("status pushed", "node", node, "commit", commit.String(), "parent", head.String())
	w.commits++
	w.compact()
	return true, true, nil
}

// cachedSame reports whether the cache's last known head already holds
// files, in which case a Write most likely has nothing to push.
func (w *Writer) cachedSame(files Files, paths []string) bool {
	ref, err := w.cache.storer().Reference(w.tracking)
	if err != nil {
		return false
	}
	have, err := readFiles(w.cache.storer(), ref.Hash(), paths)
	return err == nil && sameFiles(have, files)
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

// Read returns the node's files as they are on the remote status branch;
// empty Files and no error when the branch or the files do not exist.
func (w *Writer) Read(ctx context.Context, node string) (Files, error) {
	if err := checkNode(node); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	head, err := w.fetchForRead(ctx, fmt.Sprintf("read %s from %s", node, w.opts.URL))
	if err != nil {
		return nil, err
	}
	files, err := readFiles(w.cache.storer(), head, Paths(node))
	if err != nil {
		w.cache.reset(w.log, err)
		return nil, fmt.Errorf("status: read %s: %w", node, err)
	}
	return files, nil
}

// Nodes lists, sorted, the nodes that have a status/<node>.yaml on the
// remote status branch; none when the branch does not exist.
func (w *Writer) Nodes(ctx context.Context) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	head, err := w.fetchForRead(ctx, "list nodes on "+w.opts.URL)
	if err != nil || head.IsZero() {
		return nil, err
	}
	nodes, err := nodesAt(w.cache.storer(), head)
	if err != nil {
		w.cache.reset(w.log, err)
		return nil, fmt.Errorf("status: list nodes: %w", err)
	}
	return nodes, nil
}

// ReadAll returns the files of every node that has a status on the remote
// status branch, from one fetch: what Nodes and Read for each node would
// return, without a fetch per node.
func (w *Writer) ReadAll(ctx context.Context) (map[string]Files, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	head, err := w.fetchForRead(ctx, "read all nodes from "+w.opts.URL)
	if err != nil {
		return nil, err
	}
	out := map[string]Files{}
	if head.IsZero() {
		return out, nil
	}
	nodes, err := nodesAt(w.cache.storer(), head)
	if err != nil {
		w.cache.reset(w.log, err)
		return nil, fmt.Errorf("status: read all nodes: %w", err)
	}
	for _, n := range nodes {
		files, err := readFiles(w.cache.storer(), head, Paths(n))
		if err != nil {
			w.cache.reset(w.log, err)
			return nil, fmt.Errorf("status: read %s: %w", n, err)
		}
		out[n] = files
	}
	return out, nil
}

// fetchForRead brings the cache up to date for a read and returns the
// branch head (zero when the branch does not exist); w.mu is held. what
// says what the read was, for the error.
func (w *Writer) fetchForRead(ctx context.Context, what string) (plumbing.Hash, error) {
	if err := w.cache.ensure(); err != nil {
		return plumbing.ZeroHash, err
	}
	head, err := w.fetch(ctx)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("status: %s: %w", what, w.unreachable(ctx, err))
	}
	return head, nil
}

// nodesAt lists, sorted, the nodes with a status/<node>.yaml in commit head.
func nodesAt(s storer.EncodedObjectStorer, head plumbing.Hash) ([]string, error) {
	tree, err := headTree(s, head)
	if err != nil {
		return nil, err
	}
	dir, err := tree.Tree("status")
	if err != nil {
		return nil, nil // no node has written yet
	}
	var nodes []string
	for _, e := range dir.Entries {
		if node, ok := strings.CutSuffix(e.Name, ".yaml"); ok && e.Mode.IsFile() && e.Mode != filemode.Symlink && checkNode(node) == nil {
			nodes = append(nodes, node)
		}
	}
	slices.Sort(nodes)
	return nodes, nil
}

func (w *Writer) unreachable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
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
		w.cache.reset(w.log, err)
	}
}
