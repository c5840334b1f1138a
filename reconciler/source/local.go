package source

import (
	"context"
	"errors"
	"fmt"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Local repositories (paths and file:// URLs) are not fetched through a
// transport: the objects of the branch are copied from the repository's
// object store, which is what a local clone does anyway, and which needs no
// negotiation. (The in-process file transport of transport.go serves the
// status writer's fetches and pushes.)

// cloneLocal makes dir a bare clone of branch of the local repository, laid
// out like one made by PlainClone.
func (s *Source) cloneLocal(ctx context.Context, dir, branch string) error {
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		return fmt.Errorf("source: cannot create the cache: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{
		Name:  git.DefaultRemoteName,
		URLs:  []string{s.remote.fetchURL},
		Fetch: []config.RefSpec{refSpec(branch)},
	}); err != nil {
		return fmt.Errorf("source: cannot configure the cache: %w", err)
	}
	head := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))
	if err := repo.Storer.SetReference(head); err != nil {
		return fmt.Errorf("source: cannot configure the cache: %w", err)
	}
	return s.fetchLocal(ctx, repo, branch)
}

// fetchLocal copies the objects of branch that the cache lacks and points
// the tracking ref at its head.
func (s *Source) fetchLocal(ctx context.Context, repo *git.Repository, branch string) error {
	src, err := git.PlainOpen(s.remote.dir)
	if err != nil {
		return fmt.Errorf("source: fetch %s from %s: %w: %w", branch, s.remote.redacted, ErrUnreachable, err)
	}
	ref, err := src.Reference(plumbing.NewBranchReferenceName(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return fmt.Errorf("source: fetch %s from %s: %w", branch, s.remote.redacted, ErrBranchNotFound)
	}
	if err != nil {
		return fmt.Errorf("source: fetch %s from %s: %w: %w", branch, s.remote.redacted, ErrUnreachable, err)
	}
	if err := copyObjects(ctx, repo.Storer, src.Storer, ref.Hash()); err != nil {
		var re *readError
		if errors.As(err, &re) {
			return fmt.Errorf("source: fetch %s from %s: %w: %w", branch, s.remote.redacted, ErrUnreachable, err)
		}
		return fmt.Errorf("source: fetch %s from %s: %w", branch, s.remote.redacted, err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(trackingRef(branch), ref.Hash())); err != nil {
		return fmt.Errorf("source: cannot update the tracking ref of %s: %w", branch, err)
	}
	if err := s.fetchWatchedLocal(ctx, repo, src); err != nil {
		return fmt.Errorf("source: fetch the watched refs from %s: %w", s.remote.redacted, err)
	}
	return nil
}

// readError is a failure to read the source repository (not the cache).
type readError struct{ err error }

func (e *readError) Error() string { return "cannot read the remote repository: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// copyObjects copies every object reachable from head that dst lacks. An
// object already in dst is taken to come with everything it reaches, so
// objects are written children first: an interrupted copy never leaves an
// object whose children are missing.
func copyObjects(ctx context.Context, dst, src storer.EncodedObjectStorer, head plumbing.Hash) error {
	type frame struct {
		hash     plumbing.Hash
		obj      plumbing.EncodedObject // set once the children are pushed
		children bool
	}
	stack := []*frame{{hash: head}}
	seen := map[plumbing.Hash]bool{}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		if f.children {
			stack = stack[:len(stack)-1]
			if _, err := dst.SetEncodedObject(f.obj); err != nil {
				return fmt.Errorf("cannot write object %s to the cache: %w", f.hash, err)
			}
			continue
		}
		if seen[f.hash] || dst.HasEncodedObject(f.hash) == nil {
			stack = stack[:len(stack)-1]
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[f.hash] = true
		obj, err := src.EncodedObject(plumbing.AnyObject, f.hash)
		if err != nil {
			return &readError{fmt.Errorf("object %s: %w", f.hash, err)}
		}
		kids, err := children(src, obj)
		if err != nil {
			return &readError{fmt.Errorf("object %s: %w", f.hash, err)}
		}
		f.obj, f.children = obj, true
		for _, h := range kids {
			if !seen[h] {
				stack = append(stack, &frame{hash: h})
			}
		}
	}
	return nil
}

// children lists the objects obj refers to; submodule commits live in
// another repository and are not followed.
func children(s storer.EncodedObjectStorer, obj plumbing.EncodedObject) ([]plumbing.Hash, error) {
	decoded, err := object.DecodeObject(s, obj)
	if err != nil {
		return nil, err
	}
	switch o := decoded.(type) {
	case *object.Commit:
		return append([]plumbing.Hash{o.TreeHash}, o.ParentHashes...), nil
	case *object.Tree:
		var hs []plumbing.Hash
		for _, e := range o.Entries {
			if e.Mode != filemode.Submodule {
				hs = append(hs, e.Hash)
			}
		}
		return hs, nil
	case *object.Tag:
		return []plumbing.Hash{o.Target}, nil
	}
	return nil, nil
}
