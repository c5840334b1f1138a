package status

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// The status commit is built from objects written straight into an object
// store: blobs for the node's files, the trees on their paths (the rest of
// the head's tree is reused by hash), then the commit. No worktree, no
// index. The store is an overlay in memory over the cache, flushed to the
// cache only once the push has landed: under contention most attempts lose
// the race, and their objects are garbage.

// readFiles returns the content of each path at commit head that exists
// there; a zero head has no files.
func readFiles(s storer.EncodedObjectStorer, head plumbing.Hash, paths []string) (Files, error) {
	out := Files{}
	if head.IsZero() {
		return out, nil
	}
	tree, err := headTree(s, head)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		f, err := tree.File(p)
		if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", p, head, err)
		}
		data, err := blobBytes(&f.Blob)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", p, head, err)
		}
		out[p] = data
	}
	return out, nil
}

func headTree(s storer.EncodedObjectStorer, head plumbing.Hash) (*object.Tree, error) {
	c, err := object.GetCommit(s, head)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", head, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", head, err)
	}
	return t, nil
}

func blobBytes(b *object.Blob) ([]byte, error) {
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// sameFiles reports whether every file of want has exactly that content at head.
func sameFiles(have, want Files) bool {
	for p, data := range want {
		if h, ok := have[p]; !ok || !bytes.Equal(h, data) {
			return false
		}
	}
	return true
}

// commitFiles writes a commit whose tree is head's tree with files put at
// their paths (and nothing else changed), parented on head; a zero head
// makes a root commit holding only files. It returns the commit and every
// object written for it (the commit last): exactly what the remote, which
// has head, lacks.
func commitFiles(s storer.EncodedObjectStorer, head plumbing.Hash, files Files, sig object.Signature, message string) (plumbing.Hash, []plumbing.Hash, error) {
	var base *object.Tree
	var parents []plumbing.Hash
	if !head.IsZero() {
		t, err := headTree(s, head)
		if err != nil {
			return plumbing.ZeroHash, nil, err
		}
		base, parents = t, []plumbing.Hash{head}
	}
	tw := &treeWriter{s: s, seen: map[plumbing.Hash]bool{}}
	root, err := tw.write(base, files)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      message,
		TreeHash:     root,
		ParentHashes: parents,
	}
	h, err := tw.store(c)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	return h, tw.written, nil
}

// treeWriter writes new objects and remembers them, once each.
type treeWriter struct {
	s       storer.EncodedObjectStorer
	seen    map[plumbing.Hash]bool
	written []plumbing.Hash
}

func (tw *treeWriter) store(o encoder) (plumbing.Hash, error) {
	h, err := store(tw.s, o)
	if err == nil && !tw.seen[h] {
		tw.seen[h] = true
		tw.written = append(tw.written, h)
	}
	return h, err
}

// write writes base with files (paths relative to it) put in place,
// creating the directories they need, and returns the new tree's hash.
func (tw *treeWriter) write(base *object.Tree, files Files) (plumbing.Hash, error) {
	s := tw.s
	entries := map[string]object.TreeEntry{}
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	subdirs := map[string]Files{}
	for p, data := range files {
		dir, rest, nested := strings.Cut(p, "/")
		if nested {
			if subdirs[dir] == nil {
				subdirs[dir] = Files{}
			}
			subdirs[dir][rest] = data
			continue
		}
		h, err := tw.store(blob(data))
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[p] = object.TreeEntry{Name: p, Mode: filemode.Regular, Hash: h}
	}
	for dir, sub := range subdirs {
		var child *object.Tree
		if e, ok := entries[dir]; ok && e.Mode == filemode.Dir {
			t, err := object.GetTree(s, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", dir, err)
			}
			child = t
		}
		h, err := tw.write(child, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[dir] = object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}
	}
	t := &object.Tree{}
	for _, e := range entries {
		t.Entries = append(t.Entries, e)
	}
	// Git orders entries as if directory names ended in '/'.
	slices.SortFunc(t.Entries, func(a, b object.TreeEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	return tw.store(t)
}

// writeFlat writes the trees holding files (path to entry; the entries'
// objects exist already) and returns the root tree's hash. Trees that
// come out the same as before have the same hash and are not new.
func (tw *treeWriter) writeFlat(files map[string]object.TreeEntry) (plumbing.Hash, error) {
	here := map[string]object.TreeEntry{}
	subdirs := map[string]map[string]object.TreeEntry{}
	for p, e := range files {
		dir, rest, nested := strings.Cut(p, "/")
		if !nested {
			e.Name = p
			here[p] = e
			continue
		}
		if subdirs[dir] == nil {
			subdirs[dir] = map[string]object.TreeEntry{}
		}
		subdirs[dir][rest] = e
	}
	for dir, sub := range subdirs {
		h, err := tw.writeFlat(sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		here[dir] = object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}
	}
	t := &object.Tree{}
	for _, e := range here {
		t.Entries = append(t.Entries, e)
	}
	slices.SortFunc(t.Entries, func(a, b object.TreeEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	return tw.store(t)
}

func sortName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// blob encodes file content as a git blob.
type blob []byte

func (b blob) Encode(obj plumbing.EncodedObject) error {
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(b)))
	w, err := obj.Writer()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func store(s storer.EncodedObjectStorer, o encoder) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode %T: %w", o, err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store %T: %w", o, err)
	}
	return h, nil
}

// signature is the author and committer of status commits.
func signature(name, email string, now time.Time) object.Signature {
	return object.Signature{Name: name, Email: email, When: now}
}

// overlay keeps new objects in memory and reads the rest from the cache.
type overlay struct {
	storer.EncodedObjectStorer // the cache
	mem                        map[plumbing.Hash]plumbing.EncodedObject
}

func newOverlay(base storer.EncodedObjectStorer) *overlay {
	return &overlay{EncodedObjectStorer: base, mem: map[plumbing.Hash]plumbing.EncodedObject{}}
}

func (o *overlay) NewEncodedObject() plumbing.EncodedObject { return &plumbing.MemoryObject{} }

func (o *overlay) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h := obj.Hash()
	o.mem[h] = obj
	return h, nil
}

func (o *overlay) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if obj, ok := o.mem[h]; ok {
		if t != plumbing.AnyObject && obj.Type() != t {
			return nil, plumbing.ErrObjectNotFound
		}
		return obj, nil
	}
	return o.EncodedObjectStorer.EncodedObject(t, h)
}

func (o *overlay) HasEncodedObject(h plumbing.Hash) error {
	if _, ok := o.mem[h]; ok {
		return nil
	}
	return o.EncodedObjectStorer.HasEncodedObject(h)
}

func (o *overlay) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	if obj, ok := o.mem[h]; ok {
		return obj.Size(), nil
	}
	return o.EncodedObjectStorer.EncodedObjectSize(h)
}

// flush writes the objects the cache lacks into it.
func (o *overlay) flush() error {
	for h, obj := range o.mem {
		if o.EncodedObjectStorer.HasEncodedObject(h) == nil {
			continue
		}
		if _, err := o.EncodedObjectStorer.SetEncodedObject(obj); err != nil {
			return fmt.Errorf("store %s: %w", h, err)
		}
	}
	return nil
}

// flatten adds every file of tree t to files, by path below dir.
func flatten(s storer.EncodedObjectStorer, t *object.Tree, dir string, files map[string]object.TreeEntry) error {
	for _, e := range t.Entries {
		p := path.Join(dir, e.Name)
		if e.Mode != filemode.Dir {
			files[p] = e
			continue
		}
		sub, err := object.GetTree(s, e.Hash)
		if err != nil {
			return fmt.Errorf("read tree %s: %w", p, err)
		}
		if err := flatten(s, sub, p, files); err != nil {
			return err
		}
	}
	return nil
}
