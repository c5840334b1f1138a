package status

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Readers see a node's status on its ref when it has one, and on the
// browsable branch otherwise: the branch is folded from the refs, so the
// ref is never older, and a node whose daemon predates node refs has
// only the branch.

// Read returns the node's files: from its ref, or from the status branch
// when the node has no ref; empty Files and no error when neither holds
// any. It makes one request, fetching only the ref or only the branch.
func (w *Writer) Read(ctx context.Context, node string) (Files, error) {
	if err := w.checkNode(node); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.cache.ensure(); err != nil {
		return nil, err
	}
	ref := w.NodeRef(node)
	refs, err := w.fetchRefs(ctx, func(refs refMap) []plumbing.ReferenceName {
		if _, ok := refs[ref]; ok {
			return []plumbing.ReferenceName{ref}
		}
		return []plumbing.ReferenceName{ref, w.branch}
	})
	if err != nil {
		return nil, fmt.Errorf("status: read %s from %s: %w", node, w.opts.URL, w.unreachable(ctx, err))
	}
	w.known[node] = true
	head := refs[ref]
	if head.IsZero() {
		head = refs[w.branch]
	}
	files, err := readFiles(w.cache.storer(), head, Paths(node))
	if err != nil {
		w.resetCache(err)
		return nil, fmt.Errorf("status: read %s: %w", node, err)
	}
	return files, nil
}

// Nodes lists, sorted, the nodes that have a status: a ref, or a
// status/<node>.yaml on the status branch. None when neither exists.
func (w *Writer) Nodes(ctx context.Context) ([]string, error) {
	all, err := w.ReadAll(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(all)), nil
}

// ReadAll returns the files of every node that has a status, from one
// fetch of every node ref and the status branch: what Nodes and Read for
// each node would return, without a request per node.
func (w *Writer) ReadAll(ctx context.Context) (map[string]Files, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.cache.ensure(); err != nil {
		return nil, err
	}
	refs, err := w.fetchRefs(ctx, func(refs refMap) []plumbing.ReferenceName {
		names := []plumbing.ReferenceName{w.branch}
		for name := range refs {
			if _, ok := nodeOf(w.opts.RefPrefix, name); ok {
				names = append(names, name)
			}
		}
		return names
	})
	if err != nil {
		return nil, fmt.Errorf("status: read all nodes from %s: %w", w.opts.URL, w.unreachable(ctx, err))
	}
	out, err := readFleet(w.cache.storer(), w.opts.RefPrefix, refs, refs[w.branch])
	if err != nil {
		w.resetCache(err)
		return nil, fmt.Errorf("status: read all nodes: %w", err)
	}
	for node := range out {
		w.known[node] = true
	}
	return out, nil
}

// readFleet reads every node's files: those of the nodes with a ref under
// prefix from their ref, the others' from the branch at head.
func readFleet(s storer.EncodedObjectStorer, prefix string, refs refMap, head plumbing.Hash) (map[string]Files, error) {
	out := map[string]Files{}
	for name, h := range refs {
		node, ok := nodeOf(prefix, name)
		if !ok {
			continue
		}
		files, err := readFiles(s, h, Paths(node))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", node, err)
		}
		if len(files) > 0 {
			out[node] = files
		}
	}
	if head.IsZero() {
		return out, nil
	}
	nodes, err := nodesAt(s, head)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if _, ok := out[n]; ok {
			continue
		}
		files, err := readFiles(s, head, Paths(n))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", n, err)
		}
		out[n] = files
	}
	return out, nil
}

// nodesAt lists, sorted, the nodes with a status/<node>.yaml in commit head.
func nodesAt(s storer.EncodedObjectStorer, head plumbing.Hash) ([]string, error) {
	tree, err := headTree(s, head)
	if err != nil {
		return nil, err
	}
	dir, err := tree.Tree("status")
	if err != nil {
		return nil, nil // no node has written yet
	}
	var nodes []string
	for _, e := range dir.Entries {
		if node, ok := strings.CutSuffix(e.Name, ".yaml"); ok && e.Mode.IsFile() && e.Mode != filemode.Symlink && checkNode(node) == nil {
			nodes = append(nodes, node)
		}
	}
	slices.Sort(nodes)
	return nodes, nil
}

// resetCache wipes a cache that failed to read its own objects; w.mu is held.
func (w *Writer) resetCache(cause error) {
	w.cache.reset(w.log, cause)
	w.known = map[string]bool{}
}
