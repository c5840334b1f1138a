package status

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// build writes the branch head's tree with the files of the node refs
// that moved put in, and, when it differs from the head's, the commit, and
// pushes it.
func (a *Aggregator) build(ctx context.Context, head plumbing.Hash, moved refMap, sh SpecHead, now time.Time) (FoldResult, error) {
	s := a.cache.storer()
	files, baseRoot, err := a.branchFiles(s, head)
	if err != nil {
		return FoldResult{}, err
	}
	changed, err := a.putNodeFiles(s, moved, files)
	if err != nil {
		return FoldResult{}, err
	}
	if head.IsZero() && len(files) == 0 {
		return FoldResult{}, nil // no node has written yet: no branch of a blank page
	}
	built := newOverlay(s)
	tw := &treeWriter{s: built, seen: map[plumbing.Hash]bool{}}
	root, err := a.writeTree(tw, files, sh, now)
	if err != nil {
		return FoldResult{}, err
	}
	if root == baseRoot {
		return FoldResult{}, nil
	}
	nodes := slices.Sorted(maps.Keys(changed))
	sig := signature(a.opts.Author, a.opts.Email, now)
	c := &object.Commit{Author: sig, Committer: sig, Message: a.message(s, nodes, changed), TreeHash: root}
	if !head.IsZero() {
		c.ParentHashes = []plumbing.Hash{head}
	}
	commit, err := tw.store(c)
	if err != nil {
		return FoldResult{}, err
	}
	if err := a.push(ctx, tw, built, head, commit); err != nil {
		return FoldResult{Nodes: nodes}, err
	}
	a.log.Info("status folded", "nodes", len(nodes), "commit", commit.String())
	a.commits++
	a.compact()
	return FoldResult{Commit: commit, Nodes: nodes}, nil
}

// branchFiles returns the files of the branch head's tree, flattened, and
// the tree's hash; none and zero when there is no head.
func (a *Aggregator) branchFiles(s storer.EncodedObjectStorer, head plumbing.Hash) (map[string]object.TreeEntry, plumbing.Hash, error) {
	files := map[string]object.TreeEntry{}
	if head.IsZero() {
		return files, plumbing.ZeroHash, nil
	}
	t, err := headTree(s, head)
	if err != nil {
		return nil, plumbing.ZeroHash, a.damaged(err)
	}
	if err := flatten(s, t, "", files); err != nil {
		return nil, plumbing.ZeroHash, a.damaged(err)
	}
	return files, t.Hash, nil
}

// putNodeFiles puts into files those of each moved node ref that differ,
// and returns the nodes it changed files of, with their refs' heads.
func (a *Aggregator) putNodeFiles(s storer.EncodedObjectStorer, moved refMap, files map[string]object.TreeEntry) (map[string]plumbing.Hash, error) {
	changed := map[string]plumbing.Hash{}
	for name, h := range moved {
		node, ok := nodeOf(a.opts.RefPrefix, name)
		if !ok {
			continue
		}
		t, err := headTree(s, h)
		if err != nil {
			return nil, a.damaged(err)
		}
		for _, p := range Paths(node) {
			e, err := t.FindEntry(p)
			if err != nil || !e.Mode.IsFile() {
				continue // a file the node never wrote: what the branch has stays
			}
			if old, ok := files[p]; !ok || old.Hash != e.Hash || old.Mode != e.Mode {
				files[p] = object.TreeEntry{Name: path.Base(p), Mode: e.Mode, Hash: e.Hash}
				changed[node] = h
			}
		}
	}
	return changed, nil
}

// writeTree renders the fleet page from the statuses in files, puts it in
// at FleetPagePath, and writes the tree of files with tw; it returns the
// root tree's hash.
func (a *Aggregator) writeTree(tw *treeWriter, files map[string]object.TreeEntry, sh SpecHead, now time.Time) (plumbing.Hash, error) {
	statuses, err := a.statuses(tw.s, files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	page := a.opts.Render(statuses, a.fleetOptions(sh, now))
	pageHash, err := tw.store(blob(page))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	files[FleetPagePath] = object.TreeEntry{Name: FleetPagePath, Mode: filemode.Regular, Hash: pageHash}
	return tw.writeFlat(files)
}

// push sends the branch from head to commit, with the objects tw wrote
// that the cache lacks (the new trees, the page and the commit: every
// node's files are on its ref already), then keeps them in the cache.
func (a *Aggregator) push(ctx context.Context, tw *treeWriter, built *overlay, head, commit plumbing.Hash) error {
	cached := built.EncodedObjectStorer
	var objects []plumbing.Hash
	for _, h := range tw.written {
		if cached.HasEncodedObject(h) != nil {
			objects = append(objects, h)
		}
	}
	if _, err := a.remote.push(ctx, built, refUpdate{ref: a.branch, old: head, new: commit}, objects); err != nil {
		return err
	}
	if err := built.flush(); err == nil {
		if err := a.cache.setHead(a.branch, commit); err != nil {
			a.log.Warn("cannot record the folded head", "error", err)
		}
	} else {
		a.damaged(err)
	}
	return nil
}

// statuses parses every node's status in the folded tree, each once per
// content: a fleet of 1,000 nodes parses only the statuses that changed.
// A status that does not parse is left off the page, with a warning.
func (a *Aggregator) statuses(s storer.EncodedObjectStorer, files map[string]object.TreeEntry) (map[string]*reconciler.NodeStatus, error) {
	out := map[string]*reconciler.NodeStatus{}
	used := map[[2]plumbing.Hash]bool{}
	for p, e := range files {
		node, ok := strings.CutPrefix(p, "status/")
		if !ok {
			continue
		}
		if node, ok = strings.CutSuffix(node, ".yaml"); !ok || checkNode(node) != nil {
			continue
		}
		key := [2]plumbing.Hash{e.Hash, files[driftPath(node)].Hash}
		used[key] = true
		if ns, ok := a.parsed[key]; ok {
			out[node] = ns
			continue
		}
		nf := Files{}
		for _, q := range []string{yamlPath(node), driftPath(node)} {
			qe, ok := files[q]
			if !ok {
				continue
			}
			b, err := object.GetBlob(s, qe.Hash)
			if err != nil {
				return nil, a.damaged(fmt.Errorf("read %s: %w", q, err))
			}
			data, err := blobBytes(b)
			if err != nil {
				return nil, a.damaged(fmt.Errorf("read %s: %w", q, err))
			}
			nf[q] = data
		}
		ns, err := Parse(node, nf)
		if err != nil {
			a.log.Warn("a node's status does not parse; it is left off the fleet page", "node", node, "error", err)
			continue
		}
		a.parsed[key], out[node] = ns, ns
	}
	for k := range a.parsed {
		if !used[k] {
			delete(a.parsed, k)
		}
	}
	return out, nil
}

// message is the fold commit's message: a subject naming the nodes (as
// many as fit in 72 characters, then a count), and a body with each
// node's own last commit subject, at most reconciler.MaxListed lines of
// at most reconciler.MaxTextBytes, then a line counting the rest.
func (a *Aggregator) message(s storer.EncodedObjectStorer, nodes []string, heads map[string]plumbing.Hash) string {
	if len(nodes) == 0 {
		return "status: fleet page\n"
	}
	subject := fmt.Sprintf("status: %d node", len(nodes))
	if len(nodes) > 1 {
		subject += "s"
	}
	names, shown := "", 0
	for i, n := range nodes {
		next := n
		if i > 0 {
			next = names + ", " + n
		}
		more := ""
		if rest := len(nodes) - i - 1; rest > 0 {
			more = fmt.Sprintf(" and %d more", rest)
		}
		if len(subject)+len(": ")+len(next)+len(more) > 72 {
			break
		}
		names, shown = next, i+1
	}
	if shown > 0 {
		subject += ": " + names
		if shown < len(nodes) {
			subject += fmt.Sprintf(" and %d more", len(nodes)-shown)
		}
	}
	listed, omitted := reconciler.Listed(nodes)
	var b strings.Builder
	b.WriteString(subject + "\n\n")
	for _, n := range listed {
		line := n
		if c, err := object.GetCommit(s, heads[n]); err == nil {
			line = oneLine(strings.SplitN(c.Message, "\n", 2)[0])
		}
		b.WriteString(clipText(line) + "\n")
	}
	if omitted > 0 {
		fmt.Fprintf(&b, "... and %d more nodes\n", omitted)
	}
	return b.String()
}
