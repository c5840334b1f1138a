package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MergeBase finds where head forked from base, for a plan of what merging
// head into base would change, both revisions having been fetched
// (Resolve). It returns the merge base (nil when the histories share no
// commit), the other best common ancestors when there are several
// (criss-cross merges: the one returned is the newest by committer time,
// then the smallest hash; git merge-base may pick another), and behind,
// how many commits of base head lacks (git rev-list --count head..base).
func (s *Source) MergeBase(ctx context.Context, base, head *Revision) (mb *Revision, others []string, behind int, err error) {
	if base == nil || head == nil || !plumbing.IsHash(base.Hash) || !plumbing.IsHash(head.Hash) {
		return nil, nil, 0, errors.New("source: MergeBase: give two revisions returned by Fetch or Resolve")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, h, unlock, err := s.openCommit(ctx, head, false)
	if err != nil {
		return nil, nil, 0, err
	}
	defer unlock()
	b, err := repo.CommitObject(plumbing.NewHash(base.Hash))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("source: commit %s is not in the cache: %w", base.Short, err)
	}
	bases, err := b.MergeBase(h)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("source: merge base of %s and %s: %w", base.Short, head.Short, err)
	}
	slices.SortFunc(bases, func(x, y *object.Commit) int {
		if c := y.Committer.When.Compare(x.Committer.When); c != 0 {
			return c
		}
		return strings.Compare(x.Hash.String(), y.Hash.String())
	})
	// What head lacks of base: base's history, not walking into head's.
	have, err := ancestors(ctx, h)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("source: history of %s: %w", head.Short, err)
	}
	err = object.NewCommitPreorderIter(b, have, nil).ForEach(func(*object.Commit) error {
		behind++
		return ctx.Err()
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("source: history of %s: %w", base.Short, err)
	}
	if len(bases) == 0 {
		return nil, nil, behind, nil
	}
	for _, c := range bases[1:] {
		others = append(others, c.Hash.String())
	}
	return newRevision(bases[0]), others, behind, nil
}
