package source

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Fetch brings the cache up to date with the tracked branch and returns its
// head. The first call clones (bare, only that branch) or opens the existing
// cache; later calls fetch incrementally with a forced refspec, so a
// force-push is taken and reported in Revision.ForcePushed. Only the tracked
// branch (and the refs of Options.WatchRefs, see Watched) is fetched: pushes
// to other branches are never seen.
//
// A damaged cache (unreadable config, HEAD, refs or objects, objects
// missing for the branch) is removed and cloned again, once per call, and
// the Revision says so. A remote that is slow, silent past ctx's deadline,
// hangs up or refuses never causes a re-clone: the cache stays as it is and
// the error matches ErrUnreachable (or ErrBranchNotFound); a failed fetch
// is cloned again only when the cache then fails a check of every ref and
// object it holds.
func (s *Source) Fetch(ctx context.Context) (*Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.update(ctx, s.branch, s.last)
	if err != nil {
		return nil, err
	}
	rev := u.revision()
	if !s.last.IsZero() {
		rev.Previous = s.last.String()
		rev.ForcePushed = u.forcePushed
	}
	s.last = u.commit.Hash
	s.log.Debug("source: fetched", "head", rev.Short, "forcePushed", rev.ForcePushed, "recloned", rev.Recloned)
	return rev, nil
}

// Resolve returns the commit name designates, for `wirekeeper plan`: a
// full or abbreviated commit hash already in the cache (the tracked branch
// is fetched first when it is not), or else a branch, which is fetched. It
// does not change what Fetch reports as the previous head. Errors are those
// of Fetch.
func (s *Source) Resolve(ctx context.Context, name string) (*Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.TrimPrefix(name, "refs/heads/")
	hashLike := len(name) >= 4 && len(name) <= 40 && isHex(name)
	if hashLike {
		for _, refresh := range []bool{false, true} {
			if refresh {
				if _, err := s.update(ctx, s.branch, plumbing.ZeroHash); err != nil && !errors.Is(err, ErrBranchNotFound) {
					return nil, err
				}
			}
			c, err := s.lookupCommit(ctx, name)
			if err != nil {
				return nil, err
			}
			if c != nil {
				return newRevision(c), nil
			}
		}
	}
	branch, err := cleanBranch(name)
	if err != nil || name == "" {
		return nil, fmt.Errorf("source: %q is neither a commit in the cache nor a valid branch name", name)
	}
	u, err := s.update(ctx, branch, plumbing.ZeroHash)
	if err != nil {
		if hashLike && errors.Is(err, ErrBranchNotFound) {
			return nil, fmt.Errorf("source: %q is neither a commit of branch %s nor a branch: %w", name, s.branch, ErrBranchNotFound)
		}
		return nil, err
	}
	return u.revision(), nil
}

// updated is the outcome of update.
type updated struct {
	commit      *object.Commit
	forcePushed bool
	reason      string // why the cache was cloned again, "" if it was not
}

func (u *updated) revision() *Revision {
	rev := newRevision(u.commit)
	rev.Recloned, rev.RecloneReason = u.reason != "", u.reason
	return rev
}

// damagedError says the cache cannot be trusted and must be cloned again.
type damagedError struct{ reason string }

func (e *damagedError) Error() string { return "damaged cache: " + e.reason }

func damaged(format string, args ...any) error {
	return &damagedError{reason: fmt.Sprintf(format, args...)}
}

// update fetches branch into the cache and returns its head, checked for
// completeness. prev, if not zero, is the head to compare against for
// forcePushed. A damaged cache is cloned again once.
func (s *Source) update(ctx context.Context, branch string, prev plumbing.Hash) (*updated, error) {
	unlock, err := s.lockCache(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	u, err := s.tryUpdate(ctx, branch, prev)
	var dmg *damagedError
	if !errors.As(err, &dmg) {
		return u, err
	}
	reason := fmt.Sprintf("the cache %s was damaged (%s) and was cloned again", s.dir, dmg.reason)
	s.log.Warn("source: the cache is damaged; cloning again", "dir", s.dir, "reason", dmg.reason)
	if err := os.RemoveAll(s.dir); err != nil {
		return nil, fmt.Errorf("source: cannot remove the damaged cache: %w", err)
	}
	objects := cache.NewObjectLRUDefault()
	repo, closeRepo, err := s.clone(ctx, branch, objects)
	if err != nil {
		return nil, err
	}
	defer closeRepo()
	if u, err = s.head(repo, objects, branch, prev, plumbing.ZeroHash); err != nil {
		return nil, fmt.Errorf("source: the cache %s is still unreadable after cloning again: %w", s.dir, err)
	}
	u.reason = reason
	return u, nil
}

func (s *Source) tryUpdate(ctx context.Context, branch string, prev plumbing.Hash) (*updated, error) {
	objects := cache.NewObjectLRUDefault()
	if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
		repo, closeRepo, err := s.clone(ctx, branch, objects)
		if err != nil {
			return nil, err
		}
		defer closeRepo()
		return s.head(repo, objects, branch, prev, plumbing.ZeroHash)
	}
	repo, closeRepo, err := openCache(s.dir, objects)
	if err != nil {
		return nil, err
	}
	defer closeRepo()
	// Check what the cache holds before fetching: a fetch may hide a loss
	// (it sends what we lack) or trip over it with a less clear error. A
	// head whose spec tree this Source already read whole is checked down
	// to its root tree only: reading every blob again on every poll was
	// most of an idle fleet's CPU (docs/design/fleet-status.md), and a blob
	// lost under an unchanged head is read by nothing until the next
	// revision, whose whole tree is read (and the cache cloned again if
	// that fails).
	var checked plumbing.Hash
	ref, err := repo.Storer.Reference(trackingRef(branch))
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
	case err != nil:
		return nil, damaged("ref of %s: %v", branch, err)
	case ref.Hash() == s.read:
		if err := checkShallow(repo, ref.Hash()); err != nil {
			return nil, damaged("%v", err)
		}
		checked = ref.Hash()
	default:
		if _, err := checkCommit(repo, ref.Hash(), s.path); err != nil {
			return nil, damaged("%v", err)
		}
		checked, s.read, s.readObjects = ref.Hash(), ref.Hash(), objects
	}
	if err := s.fetch(ctx, repo, branch); err != nil {
		return nil, err
	}
	s.noteWatched(repo)
	u, err := s.head(repo, objects, branch, prev, checked)
	if err != nil {
		return nil, err
	}
	s.compact(repo)
	return u, nil
}

// openCache opens the bare clone (see openBare) and checks what a fetch
// relies on; any problem is a damagedError.
func openCache(dir string, objects cache.Object) (*git.Repository, func(), error) {
	repo, closeRepo, err := openBare(dir, objects)
	if err != nil {
		return nil, nil, damaged("cannot open it: %v", err)
	}
	if _, err := repo.Config(); err != nil {
		closeRepo()
		return nil, nil, damaged("config: %v", err)
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		closeRepo()
		return nil, nil, damaged("HEAD: %v", err)
	}
	if head.Type() == plumbing.HashReference && head.Hash().IsZero() ||
		head.Type() == plumbing.SymbolicReference && head.Target().Validate() != nil {
		closeRepo()
		return nil, nil, damaged("HEAD is neither a branch nor a commit")
	}
	return repo, closeRepo, nil
}

// clone makes a new cache holding branch and opens it with objects (see
// openBare). It clones into a temporary folder renamed into place, so an
// interrupted clone never looks like a cache.
func (s *Source) clone(ctx context.Context, branch string, objects cache.Object) (*git.Repository, func(), error) {
	start := time.Now()
	stale, _ := filepath.Glob(s.dir + ".clone-*")
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.dir), filepath.Base(s.dir)+".clone-")
	if err != nil {
		return nil, nil, fmt.Errorf("source: cannot create the cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if s.remote.scheme == "local" {
		err = s.cloneLocal(ctx, tmp, branch)
	} else {
		_, err = git.PlainCloneContext(ctx, tmp, true, &git.CloneOptions{
			URL:           s.remote.fetchURL,
			Auth:          s.auth,
			RemoteName:    git.DefaultRemoteName,
			ReferenceName: plumbing.NewBranchReferenceName(branch),
			SingleBranch:  true,
			NoCheckout:    true,
			Tags:          git.NoTags,
		})
		err = s.remoteError(ctx, "clone", branch, err)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := os.Rename(tmp, s.dir); err != nil {
		return nil, nil, fmt.Errorf("source: cannot move the new clone into place: %w", err)
	}
	repo, closeRepo, err := openBare(s.dir, objects)
	if err != nil {
		return nil, nil, fmt.Errorf("source: cannot open the new clone %s: %w", s.dir, err)
	}
	s.log.Info("source: cloned", "dir", s.dir, "took", time.Since(start).Round(time.Millisecond))
	return repo, closeRepo, nil
}

// fetch updates the tracking ref of branch, forced so that rewritten
// history is taken.
func (s *Source) fetch(ctx context.Context, repo *git.Repository, branch string) error {
	if s.remote.scheme == "local" {
		return s.fetchLocal(ctx, repo, branch)
	}
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: git.DefaultRemoteName,
		RemoteURL:  s.remote.fetchURL,
		RefSpecs:   append([]config.RefSpec{refSpec(branch)}, s.watchSpecs()...),
		Auth:       s.auth,
		Tags:       git.NoTags,
		Force:      true,
		Prune:      s.watch != "", // forget watched refs the remote deleted
	})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if ctx.Err() != nil || classify(err) != nil {
		return s.remoteError(ctx, "fetch", branch, err)
	}
	// An error that names neither the network nor the remote may still
	// come from either (a pack cut short, an answer go-git cannot parse):
	// only a cache that fails its own check is cloned again. Cloning for a
	// remote problem would put a full clone on a remote already struggling,
	// and lose the cache if the clone fails too.
	if cerr := checkStore(ctx, repo); cerr != nil {
		return damaged("%v (the fetch failed: %v)", cerr, err)
	}
	return s.remoteError(ctx, "fetch", branch, err)
}

// head returns the fetched head of branch after checking that its commit,
// parents and spec tree can be read (unless it is checked, the commit
// checked before the fetch), and whether prev is not an ancestor. objects
// is repo's cache: what the check read is kept for the Load of the head.
func (s *Source) head(repo *git.Repository, objects cache.Object, branch string, prev, checked plumbing.Hash) (*updated, error) {
	ref, err := repo.Storer.Reference(trackingRef(branch))
	if err != nil {
		return nil, damaged("no ref for the fetched branch %s: %v", branch, err)
	}
	var c *object.Commit
	readWhole := ref.Hash() != checked
	if readWhole {
		c, err = checkCommit(repo, ref.Hash(), s.path)
	} else {
		c, err = repo.CommitObject(checked)
	}
	if err != nil {
		return nil, damaged("%v", err)
	}
	if readWhole {
		s.read, s.readObjects = c.Hash, objects
	}
	u := &updated{commit: c}
	if prev.IsZero() || prev == c.Hash {
		return u, nil
	}
	old, err := repo.CommitObject(prev)
	switch {
	case errors.Is(err, plumbing.ErrObjectNotFound):
		u.forcePushed = true // not in the history just cloned
	case err != nil:
		return nil, damaged("previous head %s: %v", prev, err)
	default:
		isAncestor, err := old.IsAncestor(c)
		if err != nil {
			return nil, damaged("history of %s: %v", c.Hash, err)
		}
		u.forcePushed = !isAncestor
	}
	return u, nil
}

// lookupCommit finds a commit in the cache by full or abbreviated hash; nil
// when there is none (or no cache yet).
func (s *Source) lookupCommit(ctx context.Context, prefix string) (*object.Commit, error) {
	unlock, err := s.lockCache(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	repo, closeRepo, err := openBare(s.dir, nil)
	if err != nil {
		return nil, nil
	}
	defer closeRepo()
	prefix = strings.ToLower(prefix)
	if len(prefix) == 40 {
		c, err := repo.CommitObject(plumbing.NewHash(prefix))
		if err != nil {
			return nil, nil
		}
		return c, nil
	}
	iter, err := repo.CommitObjects()
	if err != nil {
		return nil, fmt.Errorf("source: cannot list the commits of the cache: %w", err)
	}
	defer iter.Close()
	var found []*object.Commit
	_ = iter.ForEach(func(c *object.Commit) error {
		if strings.HasPrefix(c.Hash.String(), prefix) {
			found = append(found, c)
		}
		return nil
	})
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("source: commit %q is ambiguous: %d commits start with it", prefix, len(found))
}

func refSpec(branch string) config.RefSpec {
	return config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), trackingRef(branch)))
}

func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(git.DefaultRemoteName, branch)
}

func isHex(s string) bool {
	if len(s)%2 == 1 {
		s += "0"
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
