package source

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/utils/ioutil"
)

// uploadPack is the in-process git-upload-pack of a local repository: it
// advertises the refs and sends a pack of what the fetcher wants and lacks.
// go-git's server transport does the same, but finds what the fetcher lacks
// by walking the whole history of every commit it has, on every fetch; a
// status branch gains a commit per status change, and its fetches would
// slow down forever. Here the walk stops at the commits the fetcher has.
// Shallow fetches are refused; nothing in wirekeeper makes one.
type uploadPack struct {
	repo *localRepo
	caps *capability.List
}

func (s *uploadPack) Close() error { return nil }

func (s *uploadPack) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

// AdvertisedReferencesContext lists the refs and HEAD; an empty repository
// is transport.ErrEmptyRemoteRepository, as go-git's clients expect.
func (s *uploadPack) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	ar := packp.NewAdvRefs()
	if err := ar.Capabilities.Set(capability.OFSDelta); err != nil {
		return nil, err
	}
	if err := ar.Capabilities.Set(capability.Agent, capability.DefaultAgent()); err != nil {
		return nil, err
	}
	s.caps = ar.Capabilities
	if err := listRefs(ctx, s.repo.store, ar); err != nil {
		return nil, err
	}
	if len(ar.References) == 0 {
		return nil, transport.ErrEmptyRemoteRepository
	}
	head, err := s.repo.store.Reference(plumbing.HEAD)
	if err != nil {
		return ar, nil // a bare repository may have none
	}
	if head.Type() == plumbing.SymbolicReference {
		if err := ar.AddReference(head); err != nil {
			return nil, fmt.Errorf("advertise HEAD: %w", err)
		}
		if head, err = storer.ResolveReference(s.repo.store, head.Target()); err != nil {
			return ar, nil // HEAD names a branch not made yet
		}
	}
	h := head.Hash()
	ar.Head = &h
	return ar, nil
}

// listRefs adds the repository's refs, but HEAD, to ar.
func listRefs(ctx context.Context, st storer.ReferenceStorer, ar *packp.AdvRefs) error {
	refs, err := st.IterReferences()
	if err != nil {
		return fmt.Errorf("list refs: %w", err)
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && r.Name() != plumbing.HEAD {
			ar.References[r.Name().String()] = r.Hash()
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("list refs: %w", err)
	}
	return nil
}

// UploadPack answers a fetch with a pack, encoded while it is read.
func (s *uploadPack) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if req.IsEmpty() {
		return nil, transport.ErrEmptyUploadPackRequest
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if s.caps == nil {
		if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
			return nil, err
		}
	}
	for _, c := range req.Capabilities.All() {
		if !s.caps.Supports(c) {
			return nil, fmt.Errorf("upload-pack: unsupported capability %s", c)
		}
	}
	if len(req.Shallows) > 0 || (req.Depth != nil && !req.Depth.IsZero()) {
		return nil, errors.New("upload-pack: shallow fetches of a local repository are not supported")
	}
	objects, err := missingObjects(ctx, s.repo.store, req.Wants, req.Haves)
	if err != nil {
		return nil, fmt.Errorf("upload-pack: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := packfile.NewEncoder(pw, s.repo.store, false).Encode(objects, 10)
		pw.CloseWithError(err)
	}()
	return packp.NewUploadPackResponseWithPackfile(req, ioutil.NewContextReadCloser(ctx, pr)), nil
}

// missingObjects lists the objects of the commits reachable from wants but
// not from haves, the fetcher's complete commits. The walk of history stops
// at a have; the trees of the haves met on the way are taken as present
// with everything below them. An object the fetcher already has may be
// listed (a file that came back to an older content), which only makes the
// pack larger; one it lacks is never left out.
func missingObjects(ctx context.Context, st storer.EncodedObjectStorer, wants, haves []plumbing.Hash) ([]plumbing.Hash, error) {
	have := map[plumbing.Hash]bool{}
	for _, h := range haves {
		if st.HasEncodedObject(h) == nil {
			have[h] = true
		}
	}
	var (
		out      []plumbing.Hash
		trees    []plumbing.Hash // of the commits to send
		seen     = map[plumbing.Hash]bool{}
		boundary []plumbing.Hash
		pending  = append([]plumbing.Hash(nil), wants...)
	)
	for len(pending) > 0 {
		h := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		if have[h] {
			boundary = append(boundary, h)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		obj, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("object %s: %w", h, err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(st, obj)
			if err != nil {
				return nil, fmt.Errorf("commit %s: %w", h, err)
			}
			out = append(out, h)
			trees = append(trees, c.TreeHash)
			pending = append(pending, c.ParentHashes...)
		case plumbing.TagObject:
			t, err := object.DecodeTag(st, obj)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", h, err)
			}
			out = append(out, h)
			pending = append(pending, t.Target)
		default: // a tree or a blob wanted directly
			trees = append(trees, h)
		}
	}
	// done holds the objects under the haves' trees, then those listed.
	done := map[plumbing.Hash]bool{}
	for _, h := range boundary {
		c, err := object.GetCommit(st, h)
		if err != nil {
			continue // a have that is a tag or a tree: nothing to exclude by
		}
		if err := walkTree(ctx, st, c.TreeHash, done, func(plumbing.Hash) {}); err != nil {
			return nil, err
		}
	}
	for _, t := range trees {
		if err := walkTree(ctx, st, t, done, func(h plumbing.Hash) { out = append(out, h) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// walkTree calls add for every object of tree h and below that is not in
// done, and puts them in done; a tree in done is skipped whole. Submodule
// commits live in another repository and are not followed.
func walkTree(ctx context.Context, st storer.EncodedObjectStorer, h plumbing.Hash, done map[plumbing.Hash]bool, add func(plumbing.Hash)) error {
	if done[h] {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done[h] = true
	add(h)
	obj, err := st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("object %s: %w", h, err)
	}
	if obj.Type() != plumbing.TreeObject {
		return nil
	}
	tree, err := object.DecodeTree(st, obj)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range tree.Entries {
		switch {
		case e.Mode == filemode.Submodule, done[e.Hash]:
		case e.Mode == filemode.Dir:
			if err := walkTree(ctx, st, e.Hash, done, add); err != nil {
				return err
			}
		default:
			done[e.Hash] = true
			add(e.Hash)
		}
	}
	return nil
}
