package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/trust"
	"github.com/wirekeeper/wirekeeper/spec"
)

// ErrUntrusted means a commit changes an object of the node that its
// signer may not change under the trust policy (or is not signed at all).
var ErrUntrusted = errors.New("untrusted change")

// maxTrustCommits bounds the commits one CheckTrust reads: a revision
// bringing more is refused (apply an intermediate revision first).
const maxTrustCommits = 1000

// CheckTrust checks, for node, every commit that head brings over applied
// (the revision the node enforces; "" when it enforces none) against the
// policy, and returns an error matching ErrUntrusted naming the first
// commit, its signer and the object it may not change. nil policy checks
// nothing. The rule (docs/security.md):
//
//   - The commits checked are those reachable from head and not from
//     applied: after a force-push, the new history down to where it meets
//     applied's, all of it when it never does.
//   - A commit that changes objects of node (created, edited, deleted,
//     moved onto or off the node), compared with its first parent, must be
//     signed by a key the policy allows for node and the object's kind.
//     A commit that changes none of them needs nothing.
//   - A merge commit answers only for what it changed itself: an object
//     whose merged version is that of one of its other parents came with
//     the merged commits, which are in the checked set themselves and
//     answer for it with their own signatures.
//   - With no applied revision (a node's first start, or one the cache no
//     longer holds), the head commit's signer must be allowed for every
//     object of node in head.
func (s *Source) CheckTrust(ctx context.Context, applied string, head *Revision, node string, p *trust.Policy) error {
	if p == nil {
		return nil
	}
	if head == nil || !plumbing.IsHash(head.Hash) {
		return errors.New("source: CheckTrust: no revision given; use one returned by Fetch or Resolve")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lockCache(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	repo, closeRepo, err := openBare(s.dir, nil)
	if err != nil {
		return fmt.Errorf("source: cannot open the cache %s: %w", s.dir, err)
	}
	defer closeRepo()
	h, err := repo.CommitObject(plumbing.NewHash(head.Hash))
	if err != nil {
		return fmt.Errorf("source: commit %s is not in the cache: %w", head.Short, err)
	}
	tc := &trustCheck{s: s, repo: repo, node: node, policy: p, sets: map[plumbing.Hash]map[reconciler.Ref]*spec.Object{}}
	var a *object.Commit
	if plumbing.IsHash(applied) {
		a, _ = repo.CommitObject(plumbing.NewHash(applied))
	}
	if a == nil {
		return tc.bootstrap(h)
	}
	known := map[plumbing.Hash]bool{}
	err = object.NewCommitPreorderIter(a, nil, nil).ForEach(func(c *object.Commit) error {
		known[c.Hash] = true
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("source: history of %s: %w", applied, err)
	}
	var todo []*object.Commit
	err = object.NewCommitPreorderIter(h, known, nil).ForEach(func(c *object.Commit) error {
		if len(todo) == maxTrustCommits {
			return fmt.Errorf("source: %s brings more than %d commits over %s to check against the trust policy: %w",
				head.Short, maxTrustCommits, applied[:7], ErrUntrusted)
		}
		todo = append(todo, c)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	// Oldest first, so that the first refusal is the first bad commit.
	slices.Reverse(todo)
	for _, c := range todo {
		if err := tc.commit(c); err != nil {
			return err
		}
	}
	return nil
}

type trustCheck struct {
	s      *Source
	repo   *git.Repository
	node   string
	policy *trust.Policy
	// sets are the node's objects at each commit read so far.
	sets map[plumbing.Hash]map[reconciler.Ref]*spec.Object
}

// objects returns node's objects in c's spec tree.
func (t *trustCheck) objects(c *object.Commit) (map[reconciler.Ref]*spec.Object, error) {
	if m, ok := t.sets[c.Hash]; ok {
		return m, nil
	}
	m := map[reconciler.Ref]*spec.Object{}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("source: tree of commit %s: %w", c.Hash.String()[:7], err)
	}
	fsys, err := specTree(t.repo, root, c, t.s.path)
	switch {
	case isPathProblem(err):
	case err != nil:
		return nil, fmt.Errorf("source: spec folder of commit %s: %w", c.Hash.String()[:7], err)
	default:
		prefix := t.s.path
		if prefix == "." {
			prefix = ""
		}
		set, _ := spec.LoadFS(fsys, prefix)
		if err := fsys.err(); err != nil {
			return nil, fmt.Errorf("source: cannot read the spec tree of commit %s: %w", c.Hash.String()[:7], err)
		}
		for _, o := range set.ForNode(t.node) {
			m[reconciler.RefOf(o)] = o
		}
	}
	t.sets[c.Hash] = m
	return m, nil
}

// changed returns the refs of node's objects that differ between from and
// to, sorted.
func changed(from, to map[reconciler.Ref]*spec.Object) []reconciler.Ref {
	var out []reconciler.Ref
	for r, o := range to {
		if !reconciler.SameObject(from[r], o) {
			out = append(out, r)
		}
	}
	for r := range from {
		if to[r] == nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b reconciler.Ref) int {
		if c := spec.KindRank(a.Kind) - spec.KindRank(b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.String(), b.String())
	})
	return out
}

// commit checks one commit of the set (see CheckTrust).
func (t *trustCheck) commit(c *object.Commit) error {
	now, err := t.objects(c)
	if err != nil {
		return err
	}
	before := map[reconciler.Ref]*spec.Object{}
	var others []map[reconciler.Ref]*spec.Object
	for i, ph := range c.ParentHashes {
		p, err := t.repo.CommitObject(ph)
		if err != nil {
			return fmt.Errorf("source: parent %s of commit %s is not in the cache: %w", ph.String()[:7], c.Hash.String()[:7], err)
		}
		objs, err := t.objects(p)
		if err != nil {
			return err
		}
		if i == 0 {
			before = objs
		} else {
			others = append(others, objs)
		}
	}
	var own []reconciler.Ref
	for _, r := range changed(before, now) {
		fromMerged := slices.ContainsFunc(others, func(o map[reconciler.Ref]*spec.Object) bool {
			return reconciler.SameObject(o[r], now[r])
		})
		if !fromMerged {
			own = append(own, r)
		}
	}
	return t.allow(c, own, "changes")
}

// bootstrap checks a head with no applied revision before it.
func (t *trustCheck) bootstrap(h *object.Commit) error {
	objs, err := t.objects(h)
	if err != nil {
		return err
	}
	refs := changed(nil, objs)
	return t.allow(h, refs, "is the first revision of the node and holds")
}

// allow checks that c's signer may change every ref.
func (t *trustCheck) allow(c *object.Commit, refs []reconciler.Ref, what string) error {
	if len(refs) == 0 {
		return nil
	}
	short := c.Hash.String()[:7]
	key, err := t.s.verifyCommit(c)
	if err != nil {
		return fmt.Errorf("source: commit %s %s %s on node %s and its signature is not trusted (%v): %w", short, what, refs[0], t.node, err, ErrUntrusted)
	}
	for _, r := range refs {
		if err := t.policy.Allowed(key, t.node, r.Kind); err != nil {
			return fmt.Errorf("source: commit %s %s %s on node %s: %v: %w", short, what, r, t.node, err, ErrUntrusted)
		}
	}
	return nil
}
