package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Load reads and validates the spec tree of rev at Options.Path, straight
// from the object store. Diagnostics name files relative to the repository
// root ("specs/mirrors.yaml:12:5"); a Path missing from rev is a diagnostic
// too. The error is for failures of the cache itself, not for spec problems.
func (s *Source) Load(ctx context.Context, rev *Revision) (*spec.Set, spec.Diagnostics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, c, unlock, err := s.openCommit(ctx, rev, true)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	return s.loadCommit(repo, c)
}

// loadCommit reads and validates the spec tree of c in repo (see Load).
func (s *Source) loadCommit(repo *git.Repository, c *object.Commit) (*spec.Set, spec.Diagnostics, error) {
	root, err := c.Tree()
	if err != nil {
		return nil, nil, fmt.Errorf("source: tree of commit %s: %w", c.Hash, err)
	}
	fsys, err := specTree(repo, root, c, s.path)
	if isPathProblem(err) {
		return &spec.Set{}, spec.Diagnostics{s.missingFolder(c, err)}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("source: spec folder %q of commit %s: %w", s.path, c.Hash, err)
	}
	prefix := s.path
	if prefix == "." {
		prefix = ""
	}
	set, diags := spec.LoadFS(fsys, prefix)
	if err := fsys.err(); err != nil {
		return nil, nil, fmt.Errorf("source: cannot read the spec tree of commit %s: %w", c.Hash, err)
	}
	return set, diags, nil
}

// ReadFile returns the file at the repository-relative path p in rev,
// following symlinks that stay inside the repository.
func (s *Source) ReadFile(ctx context.Context, rev *Revision, p string) ([]byte, error) {
	clean, err := cleanPath(p)
	if err != nil {
		return nil, fmt.Errorf("source: ReadFile: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, c, unlock, err := s.openCommit(ctx, rev, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("source: tree of commit %s: %w", c.Hash, err)
	}
	data, err := fs.ReadFile(newTreeFS(repo.Storer, root, c.Committer.When), clean)
	if err != nil {
		return nil, fmt.Errorf("source: read %s in commit %s: %w", clean, rev.Short, unwrapPathError(err))
	}
	return data, nil
}

// openCommit opens the cache under a shared lock and finds rev's commit.
// The caller holds s.mu and calls unlock when done reading. When rev is the
// commit whose spec tree the last fetch read whole, the cache is opened
// with the objects that read decoded, so the load does not decode every
// blob again (a fleet-wide change made each host decode its whole spec
// tree twice); take hands them over for good, so that a later read goes
// to the disk again.
func (s *Source) openCommit(ctx context.Context, rev *Revision, take bool) (*git.Repository, *object.Commit, func(), error) {
	if rev == nil || !plumbing.IsHash(rev.Hash) {
		return nil, nil, nil, errors.New("source: no revision given; use one returned by Fetch or Resolve")
	}
	unlock, err := s.lockCache(ctx, false)
	if err != nil {
		return nil, nil, nil, err
	}
	var objects cache.Object
	if rev.Hash == s.read.String() {
		objects = s.readObjects
		if take {
			s.readObjects = nil
		}
	}
	repo, closeRepo, err := openBare(s.dir, objects)
	if err != nil {
		unlock()
		return nil, nil, nil, fmt.Errorf("source: cannot open the cache %s (Fetch creates it): %w", s.dir, err)
	}
	done := func() {
		closeRepo()
		unlock()
	}
	c, err := repo.CommitObject(plumbing.NewHash(rev.Hash))
	if err != nil {
		done()
		return nil, nil, nil, fmt.Errorf("source: commit %s is not in the cache: %w", rev.Hash, err)
	}
	return repo, c, done, nil
}

// specTree returns the tree FS rooted at the folder specPath of root.
// Symlinks on the way are followed while they stay in the repository.
func specTree(repo *git.Repository, root *object.Tree, c *object.Commit, specPath string) (*treeFS, error) {
	fsys := newTreeFS(repo.Storer, root, c.Committer.When)
	if specPath == "." {
		return fsys, nil
	}
	n, err := fsys.lookup("open", specPath, true)
	if err != nil {
		return nil, err
	}
	if n.tree == nil {
		return nil, &fs.PathError{Op: "open", Path: specPath, Err: errNotDir}
	}
	return newTreeFS(repo.Storer, n.tree, c.Committer.When), nil
}

// isPathProblem reports whether err, from treeFS, is about the path asked
// for rather than about the object store.
func isPathProblem(err error) bool {
	for _, e := range []error{fs.ErrNotExist, fs.ErrInvalid, errNotDir, errEscapes, errLinkLoop} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Source) missingFolder(c *object.Commit, err error) spec.Diagnostic {
	var msg string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = fmt.Sprintf("spec folder %q does not exist in commit %s", s.path, c.Hash.String()[:7])
	case errors.Is(err, errNotDir):
		msg = fmt.Sprintf("spec folder %q is not a folder in commit %s", s.path, c.Hash.String()[:7])
	default:
		msg = fmt.Sprintf("spec folder %q cannot be read in commit %s: %v", s.path, c.Hash.String()[:7], unwrapPathError(err))
	}
	return spec.Diagnostic{
		Position: spec.Position{File: s.path, Line: 1, Column: 1},
		Severity: spec.SeverityError,
		Message:  msg + "; check Path against the repository layout",
	}
}

// checkCommit reads commit h, checks its parents are present and reads
// every object of its spec tree, so that a cache that lost data is found at
// fetch time rather than reported as a spec problem.
func checkCommit(repo *git.Repository, h plumbing.Hash, specPath string) (*object.Commit, error) {
	c, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	for _, p := range c.ParentHashes {
		if err := repo.Storer.HasEncodedObject(p); err != nil {
			return nil, fmt.Errorf("parent %s of commit %s: %w", p, h, err)
		}
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of commit %s: %w", h, err)
	}
	fsys, err := specTree(repo, root, c, specPath)
	if isPathProblem(err) {
		return c, nil // a missing spec folder is Load's diagnostic
	}
	if err != nil {
		return nil, fmt.Errorf("spec folder of commit %s: %w", h, err)
	}
	if err := readTree(repo, fsys.root); err != nil {
		return nil, fmt.Errorf("spec tree of commit %s: %w", h, err)
	}
	return c, nil
}

// checkShallow reads commit h and its root tree and checks its parents are
// present: what checkCommit checks, but the spec tree's blobs.
func checkShallow(repo *git.Repository, h plumbing.Hash) error {
	c, err := repo.CommitObject(h)
	if err != nil {
		return fmt.Errorf("commit %s: %w", h, err)
	}
	for _, p := range c.ParentHashes {
		if err := repo.Storer.HasEncodedObject(p); err != nil {
			return fmt.Errorf("parent %s of commit %s: %w", p, h, err)
		}
	}
	if _, err := c.Tree(); err != nil {
		return fmt.Errorf("tree of commit %s: %w", h, err)
	}
	return nil
}

func readTree(repo *git.Repository, t *object.Tree) error {
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Submodule:
			continue
		case filemode.Dir:
			sub, err := repo.TreeObject(e.Hash)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
			if err := readTree(repo, sub); err != nil {
				return fmt.Errorf("%s/%w", e.Name, err)
			}
			continue
		}
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, e.Hash)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		r, err := obj.Reader()
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return nil
}
