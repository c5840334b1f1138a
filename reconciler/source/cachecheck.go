package source

import (
	"context"
	"fmt"
	"io"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// checkStore reads every ref and every object of the cache whole (which
// inflates each one, checking its zlib checksum, and resolves every delta):
// the evidence that a failed fetch was the cache's fault, not the remote's. It runs only after a fetch failed
// with an error that names neither, so its cost (one read of the cache,
// a spec repository being small) is paid on that rare path alone. A nil
// error means the cache is whole, or that ctx ended first: no evidence of
// damage either way.
func checkStore(ctx context.Context, repo *git.Repository) error {
	refs, err := repo.Storer.IterReferences()
	if err != nil {
		return fmt.Errorf("refs: %w", err)
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference {
			return nil
		}
		if err := repo.Storer.HasEncodedObject(r.Hash()); err != nil {
			return fmt.Errorf("ref %s -> %s: %w", r.Name(), r.Hash(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	objects, err := repo.Storer.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	defer objects.Close()
	err = objects.ForEach(func(o plumbing.EncodedObject) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return readObject(o)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// readObject reads o whole.
func readObject(o plumbing.EncodedObject) error {
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("object %s: %w", o.Hash(), err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("object %s: %w", o.Hash(), err)
	}
	return nil
}
