package source

import (
	"context"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// Watched refs ride along with the spec fetch: the status aggregator's
// lease lives in the spec repository, and every daemon must notice when
// its hash stops changing. Fetching it with the branch costs no request of
// its own (the remote advertises every ref anyway) and a few hundred bytes
// when it moved.

// watchedPrefix is where the cache keeps the watched refs: a watched
// refs/a/b is refs/watched/a/b in the cache.
const watchedPrefix = "refs/watched/"

func watchedName(ref string) string { return watchedPrefix + strings.TrimPrefix(ref, "refs/") }

// checkWatch accepts "" (nothing watched) or a ref prefix ending in '/'.
func checkWatch(prefix string) error {
	if prefix == "" {
		return nil
	}
	if !strings.HasPrefix(prefix, "refs/") || !strings.HasSuffix(prefix, "/") ||
		plumbing.ReferenceName(prefix+"x").Validate() != nil || strings.HasPrefix(prefix, watchedPrefix) {
		return fmt.Errorf("source: WatchRefs %q is not a ref prefix such as refs/wirekeeper/lease/", prefix)
	}
	return nil
}

// watchSpecs are the refspecs of the watched refs: none, or one wildcard,
// which matches no ref at all without an error.
func (s *Source) watchSpecs() []config.RefSpec {
	if s.watch == "" {
		return nil
	}
	return []config.RefSpec{config.RefSpec("+" + s.watch + "*:" + watchedName(s.watch) + "*")}
}

// noteWatched records the watched refs the cache holds after a fetch,
// which pruned those the remote no longer has.
func (s *Source) noteWatched(repo *git.Repository) {
	if s.watch == "" {
		return
	}
	seen := map[string]plumbing.Hash{}
	refs, err := repo.Storer.IterReferences()
	if err != nil {
		return
	}
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		if rest, ok := strings.CutPrefix(r.Name().String(), watchedPrefix); ok && r.Type() == plumbing.HashReference {
			if name := "refs/" + rest; strings.HasPrefix(name, s.watch) {
				seen[name] = r.Hash()
			}
		}
		return nil
	})
	s.wmu.Lock()
	s.watched = seen
	s.wmu.Unlock()
}

// fetchWatchedLocal mirrors the watched refs of the local repository src
// into the cache, with their objects.
func (s *Source) fetchWatchedLocal(ctx context.Context, repo, src *git.Repository) error {
	if s.watch == "" {
		return nil
	}
	want := map[plumbing.ReferenceName]plumbing.Hash{}
	refs, err := src.Storer.IterReferences()
	if err != nil {
		return fmt.Errorf("list refs: %w", err)
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if strings.HasPrefix(r.Name().String(), s.watch) && r.Type() == plumbing.HashReference {
			want[plumbing.ReferenceName(watchedName(r.Name().String()))] = r.Hash()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list refs: %w", err)
	}
	have, err := repo.Storer.IterReferences()
	if err != nil {
		return fmt.Errorf("list refs: %w", err)
	}
	var gone []plumbing.ReferenceName
	_ = have.ForEach(func(r *plumbing.Reference) error {
		if _, ok := want[r.Name()]; !ok && strings.HasPrefix(r.Name().String(), watchedName(s.watch)) {
			gone = append(gone, r.Name())
		}
		return nil
	})
	for _, name := range gone {
		if err := repo.Storer.RemoveReference(name); err != nil {
			return fmt.Errorf("prune %s: %w", name, err)
		}
	}
	for name, h := range want {
		if err := copyObjects(ctx, repo.Storer, src.Storer, h); err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
		if err := repo.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// Watched returns the hash of ref, a ref under Options.WatchRefs, as the
// last Fetch saw it on the remote: zero when the remote had no such ref.
// ok is false while no Fetch has looked (none yet, or only the first,
// which clones the branch alone), so that the caller does not take "not
// looked" for "not there".
func (s *Source) Watched(ref string) (hash plumbing.Hash, ok bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.watched == nil {
		return plumbing.ZeroHash, false
	}
	return s.watched[ref], true
}
