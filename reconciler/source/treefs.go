package source

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Errors of treeFS, inside *fs.PathError, phrased like the os ones.
var (
	errEscapes    = errors.New("path escapes from the tree")
	errNotDir     = errors.New("not a directory")
	errIsDir      = errors.New("is a directory")
	errNotSymlink = errors.New("not a symbolic link")
	errLinkLoop   = errors.New("too many levels of symbolic links")
)

const maxLinkHops = 40

// treeFS is a read-only fs.FS over a git tree, read from the object store on
// demand. Symlinks (mode 120000) are followed like os.Root follows them:
// only while they stay inside the tree. Submodules are left out. It also
// implements fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS.
type treeFS struct {
	store   storer.EncodedObjectStorer
	root    *object.Tree
	modTime time.Time

	mu       sync.Mutex
	storeErr error // first failure of the object store, not of a path
}

func newTreeFS(s storer.EncodedObjectStorer, root *object.Tree, modTime time.Time) *treeFS {
	return &treeFS{store: s, root: root, modTime: modTime}
}

// node is a resolved path: a directory (tree set) or a blob.
type node struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
	tree *object.Tree
}

// err returns the first object-store failure met, if any.
func (f *treeFS) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.storeErr
}

// fail records an object-store failure and returns it.
func (f *treeFS) fail(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storeErr == nil {
		f.storeErr = err
	}
	return err
}

// lookup resolves name, following symlinks on the way and, if followLast,
// at the end.
func (f *treeFS) lookup(op, name string, followLast bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	stack := []*node{{name: ".", mode: filemode.Dir, hash: f.root.Hash, tree: f.root}}
	todo := strings.Split(name, "/")
	hops := 0
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return nil, &fs.PathError{Op: op, Path: name, Err: errEscapes}
			}
			stack = stack[:len(stack)-1]
			continue
		}
		dir := stack[len(stack)-1]
		if dir.tree == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: errNotDir}
		}
		i := slices.IndexFunc(dir.tree.Entries, func(e object.TreeEntry) bool { return e.Name == comp })
		if i < 0 || dir.tree.Entries[i].Mode == filemode.Submodule {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		e := dir.tree.Entries[i]
		n := &node{name: comp, mode: e.Mode, hash: e.Hash}
		if e.Mode == filemode.Symlink && (len(todo) > 0 || followLast) {
			if hops++; hops > maxLinkHops {
				return nil, &fs.PathError{Op: op, Path: name, Err: errLinkLoop}
			}
			target, err := f.readBlob(e.Hash)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
			if path.IsAbs(string(target)) {
				return nil, &fs.PathError{Op: op, Path: name, Err: errEscapes}
			}
			todo = append(strings.Split(string(target), "/"), todo...)
			continue
		}
		if e.Mode == filemode.Dir {
			t, err := object.GetTree(f.store, e.Hash)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: f.fail(err)}
			}
			n.tree = t
		}
		stack = append(stack, n)
	}
	n := *stack[len(stack)-1]
	n.name = path.Base(name) // a followed link keeps its own name, as with os.Stat
	return &n, nil
}

func (f *treeFS) readBlob(h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(f.store, h)
	if err != nil {
		return nil, f.fail(err)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, f.fail(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, f.fail(err)
	}
	return data, nil
}

func (f *treeFS) info(n *node) (fs.FileInfo, error) {
	fi := &fileInfo{name: n.name, mode: n.mode, modTime: f.modTime}
	if n.tree == nil {
		obj, err := f.store.EncodedObject(plumbing.BlobObject, n.hash)
		if err != nil {
			return nil, f.fail(err)
		}
		fi.size = obj.Size()
	}
	return fi, nil
}

// Open opens name, following symlinks.
func (f *treeFS) Open(name string) (fs.File, error) {
	n, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(n)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if n.tree != nil {
		entries, err := f.entries(n.tree)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dirFile{info: fi, entries: entries}, nil
	}
	b, err := object.GetBlob(f.store, n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: f.fail(err)}
	}
	r, err := b.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: f.fail(err)}
	}
	return &blobFile{fs: f, name: name, info: fi, r: r}, nil
}

// Stat describes name, following symlinks.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, true) }

// Lstat describes name without following a final symlink.
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name, false) }

func (f *treeFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	n, err := f.lookup(op, name, follow)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(n)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return fi, nil
}

// ReadLink returns the target of the symlink name, as stored.
func (f *treeFS) ReadLink(name string) (string, error) {
	n, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: errNotSymlink}
	}
	target, err := f.readBlob(n.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

// ReadDir lists the directory name, sorted by name, without submodules.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.tree == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	entries, err := f.entries(n.tree)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return entries, nil
}

func (f *treeFS) entries(t *object.Tree) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	for _, e := range t.Entries {
		if e.Mode == filemode.Submodule {
			continue
		}
		n := &node{name: e.Name, mode: e.Mode, hash: e.Hash}
		if e.Mode == filemode.Dir {
			n.tree = &object.Tree{} // marks a directory; info needs no content
		}
		out = append(out, &dirEntry{fs: f, n: n})
	}
	// Git sorts a directory as if its name ended in "/"; fs wants plain names.
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

type fileInfo struct {
	name    string
	size    int64
	mode    filemode.FileMode
	modTime time.Time
}

func (i *fileInfo) Name() string { return i.name }
func (i *fileInfo) Size() int64  { return i.size }
func (i *fileInfo) Mode() fs.FileMode {
	m, err := i.mode.ToOSFileMode()
	if err != nil {
		return 0o644
	}
	return m
}
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode == filemode.Dir }
func (i *fileInfo) Sys() any           { return nil }

type dirEntry struct {
	fs *treeFS
	n  *node
}

func (d *dirEntry) Name() string               { return d.n.name }
func (d *dirEntry) IsDir() bool                { return d.n.mode == filemode.Dir }
func (d *dirEntry) Type() fs.FileMode          { return (&fileInfo{mode: d.n.mode}).Mode().Type() }
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.fs.info(d.n) }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

type blobFile struct {
	fs   *treeFS
	name string
	info fs.FileInfo
	r    io.ReadCloser
}

func (b *blobFile) Stat() (fs.FileInfo, error) { return b.info, nil }
func (b *blobFile) Close() error               { return b.r.Close() }
func (b *blobFile) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: b.name, Err: b.fs.fail(err)}
	}
	return n, err
}

type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
	offset  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errIsDir}
}

// ReadDir follows fs.ReadDirFile: n > 0 returns at most n entries and io.EOF
// at the end; n <= 0 returns the rest.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.offset:]
	if n <= 0 {
		d.offset = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.offset += n
	return rest[:n], nil
}
