package source

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
	refused, err := s.CheckTrustNodes(ctx, applied, head, []string{node}, p)
	if err != nil {
		return err
	}
	return refused[node]
}

// CheckTrustNodes is CheckTrust for several nodes at once, as `plan` asks:
// the history is walked and each commit's specs read once for all of them.
// It returns the refusal of each node refused (a node absent from the map
// accepts head); the error is for what stops the check itself.
func (s *Source) CheckTrustNodes(ctx context.Context, applied string, head *Revision, nodes []string, p *trust.Policy) (map[string]error, error) {
	refused := map[string]error{}
	if p == nil {
		return refused, nil
	}
	if head == nil || !plumbing.IsHash(head.Hash) {
		return nil, errors.New("source: CheckTrust: no revision given; use one returned by Fetch or Resolve")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, h, unlock, err := s.openCommit(ctx, head, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tc := &trustCheck{s: s, repo: repo, policy: p, sets: map[plumbing.Hash]*spec.Set{}}
	var a *object.Commit
	if plumbing.IsHash(applied) {
		a, _ = repo.CommitObject(plumbing.NewHash(applied))
	}
	var todo []*object.Commit
	if a == nil {
		todo = []*object.Commit{h} // checked as a first revision
	} else {
		known, err := ancestors(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("source: history of %s: %w", applied, err)
		}
		err = object.NewCommitPreorderIter(h, known, nil).ForEach(func(c *object.Commit) error {
			if len(todo) == maxTrustCommits {
				return fmt.Errorf("source: %s brings more than %d commits over %s to check against the trust policy: %w",
					head.Short, maxTrustCommits, applied[:7], ErrUntrusted)
			}
			todo = append(todo, c)
			return ctx.Err()
		})
		if errors.Is(err, ErrUntrusted) {
			for _, n := range nodes {
				refused[n] = err
			}
			return refused, nil
		}
		if err != nil {
			return nil, err
		}
		// Oldest first, so that the first refusal is the first bad commit.
		slices.Reverse(todo)
	}
	for _, c := range todo {
		for _, n := range nodes {
			if refused[n] != nil {
				continue
			}
			if a == nil {
				err = tc.bootstrap(c, n)
			} else {
				err = tc.commit(c, n)
			}
			if errors.Is(err, ErrUntrusted) {
				refused[n] = err
			} else if err != nil {
				return nil, err
			}
		}
	}
	return refused, nil
}

// ancestors returns c and every commit it descends from.
func ancestors(ctx context.Context, c *object.Commit) (map[plumbing.Hash]bool, error) {
	seen := map[plumbing.Hash]bool{}
	err := object.NewCommitPreorderIter(c, nil, nil).ForEach(func(c *object.Commit) error {
		seen[c.Hash] = true
		return ctx.Err()
	})
	return seen, err
}

type trustCheck struct {
	s      *Source
	repo   *git.Repository
	policy *trust.Policy
	// sets are the specs of each commit read so far.
	sets map[plumbing.Hash]*spec.Set
}

// objects returns node's objects in c's spec tree (none when the spec
// folder is missing).
func (t *trustCheck) objects(c *object.Commit, node string) (map[reconciler.Ref]*spec.Object, error) {
	set, ok := t.sets[c.Hash]
	if !ok {
		var err error
		if set, _, err = t.s.loadCommit(t.repo, c); err != nil {
			return nil, err
		}
		t.sets[c.Hash] = set
	}
	m := map[reconciler.Ref]*spec.Object{}
	for _, o := range set.ForNode(node) {
		m[reconciler.RefOf(o)] = o
	}
	return m, nil
}

// changed returns the refs of the objects that differ between from and
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
	slices.SortFunc(out, reconciler.CompareRefs)
	return out
}

// commit checks one commit of the set for node (see CheckTrust).
func (t *trustCheck) commit(c *object.Commit, node string) error {
	now, err := t.objects(c, node)
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
		objs, err := t.objects(p, node)
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
	return t.allow(c, node, own, "changes")
}

// bootstrap checks a head with no applied revision before it.
func (t *trustCheck) bootstrap(h *object.Commit, node string) error {
	objs, err := t.objects(h, node)
	if err != nil {
		return err
	}
	return t.allow(h, node, changed(nil, objs), "is the first revision of the node and holds")
}

// allow checks that c's signer may change every ref of node.
func (t *trustCheck) allow(c *object.Commit, node string, refs []reconciler.Ref, what string) error {
	if len(refs) == 0 {
		return nil
	}
	short := c.Hash.String()[:7]
	key, err := t.s.verifyCommit(c)
	if err != nil {
		return fmt.Errorf("source: commit %s %s %s on node %s and its signature is not trusted (%v): %w", short, what, refs[0], node, err, ErrUntrusted)
	}
	for _, r := range refs {
		if err := t.policy.Allowed(key, node, r.Kind); err != nil {
			return fmt.Errorf("source: commit %s %s %s on node %s: %v: %w", short, what, r, node, err, ErrUntrusted)
		}
	}
	return nil
}
