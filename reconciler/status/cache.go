package status

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// cacheMarker, a file in the cache directory, proves the directory is a
// status cache, so that a misconfigured CacheDir (a home directory, the spec
// source's cache) is refused instead of wiped.
const cacheMarker = "wirekeeper-status-cache"

// cache is the bare repository of a Writer or an Aggregator: the heads
// of the remote refs it reads, under trackingPrefix, and their trees.
type cache struct {
	dir  string
	repo *git.Repository // nil after a failed reset, until open succeeds
}

func openCache(dir string) (*cache, error) {
	c := &cache{dir: dir}
	if err := c.open(); err != nil {
		return nil, err
	}
	return c, nil
}

// open opens the cache, creating it in a missing or empty directory and
// recreating it when it is ours but unreadable.
func (c *cache) open() error {
	_, merr := os.Stat(filepath.Join(c.dir, cacheMarker))
	ours := merr == nil
	repo, err := git.PlainOpen(c.dir)
	switch {
	case err == nil && ours:
		if err := restrict(c.dir); err != nil {
			return err
		}
		c.repo = repo
		return nil
	case err == nil:
		return fmt.Errorf("status: cache %s is a git repository not made by the status writer; give the writer a directory of its own", c.dir)
	case !ours:
		entries, rerr := os.ReadDir(c.dir)
		if rerr == nil && len(entries) > 0 {
			return fmt.Errorf("status: cache %s is neither empty nor a status cache; refusing to use it", c.dir)
		}
	default:
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("status: wipe cache %s: %w", c.dir, err)
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("status: create cache %s: %w", c.dir, err)
	}
	repo, err = git.PlainInit(c.dir, true)
	if err != nil {
		return fmt.Errorf("status: create cache %s: %w", c.dir, err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, cacheMarker), []byte("status branch cache of wirekeeper; safe to delete\n"), 0o600); err != nil {
		return fmt.Errorf("status: create cache %s: %w", c.dir, err)
	}
	if err := restrict(c.dir); err != nil {
		return err
	}
	c.repo = repo
	return nil
}

// ensure reopens the cache after a failed reset.
func (c *cache) ensure() error {
	if c.repo != nil {
		return nil
	}
	return c.open()
}

func (c *cache) storer() storage.Storer { return c.repo.Storer }

// reset wipes the cache after it failed to read its own objects; the next
// fetch brings everything back.
func (c *cache) reset(log *slog.Logger, cause error) {
	log.Warn("status cache unreadable; wiping it", "dir", c.dir, "error", cause)
	c.repo = nil
	if err := os.RemoveAll(c.dir); err != nil {
		log.Error("cannot wipe status cache", "dir", c.dir, "error", err)
		return
	}
	if err := c.open(); err != nil {
		log.Error("cannot recreate status cache", "dir", c.dir, "error", err)
	}
}

func (c *cache) packs() (int, error) {
	pos, ok := c.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return 0, errors.New("status: cache storage keeps no packs")
	}
	hs, err := pos.ObjectPacks()
	return len(hs), err
}

// trackingPrefix is where the cache keeps the heads it fetched or pushed:
// the remote's ref name below it, without the leading "refs/". Remote ref
// names never collide with each other, so neither do these.
const trackingPrefix = "refs/tracking/"

func tracking(ref plumbing.ReferenceName) plumbing.ReferenceName {
	return plumbing.ReferenceName(trackingPrefix + strings.TrimPrefix(ref.String(), "refs/"))
}

// head returns the cache's last known head of the remote's ref; zero when
// it knows none.
func (c *cache) head(ref plumbing.ReferenceName) plumbing.Hash {
	r, err := c.repo.Storer.Reference(tracking(ref))
	if err != nil {
		return plumbing.ZeroHash
	}
	return r.Hash()
}

// setHead records h as the remote's ref's head; a zero h forgets the ref.
func (c *cache) setHead(ref plumbing.ReferenceName, h plumbing.Hash) error {
	name := tracking(ref)
	if h.IsZero() {
		if err := c.repo.Storer.RemoveReference(name); err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return err
		}
		return nil
	}
	if cur, err := c.repo.Storer.Reference(name); err == nil && cur.Hash() == h {
		return nil
	}
	return c.repo.Storer.SetReference(plumbing.NewHashReference(name, h))
}

// compact packs the objects of the heads the cache tracks (each head
// commit and its whole tree, not its history, which nothing reads) into
// one packfile and drops every other pack and loose object. Shallow
// fetches leave commits whose parents are missing, which go-git's own
// repack would choke on. The storage is reopened afterwards, since it keeps
// indexes of the packs deleted.
func (c *cache) compact() error {
	s := c.repo.Storer
	keep := map[plumbing.Hash]bool{}
	refs, err := s.IterReferences()
	if err != nil {
		return fmt.Errorf("status: compact cache: %w", err)
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference || !strings.HasPrefix(r.Name().String(), trackingPrefix) {
			return nil
		}
		return keepHead(s, r.Hash(), keep)
	})
	if err != nil {
		return fmt.Errorf("status: compact cache: %w", err)
	}
	pos, ok := s.(storer.PackedObjectStorer)
	if !ok {
		return errors.New("status: compact cache: the storage keeps no packs")
	}
	old, err := pos.ObjectPacks()
	if err != nil {
		return fmt.Errorf("status: compact cache: %w", err)
	}
	pfw, ok := s.(storer.PackfileWriter)
	if !ok {
		return errors.New("status: compact cache: the storage cannot write packs")
	}
	objs := make([]plumbing.Hash, 0, len(keep))
	for h := range keep {
		objs = append(objs, h)
	}
	wc, err := pfw.PackfileWriter()
	if err != nil {
		return fmt.Errorf("status: compact cache: %w", err)
	}
	nh, err := packfile.NewEncoder(wc, s, false).Encode(objs, 0)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("status: compact cache: %w", err)
	}
	for _, h := range old {
		if h != nh {
			if err := pos.DeleteOldObjectPackAndIndex(h, time.Time{}); err != nil {
				return fmt.Errorf("status: compact cache: %w", err)
			}
		}
	}
	if los, ok := s.(storer.LooseObjectStorer); ok {
		err := los.ForEachObjectHash(func(h plumbing.Hash) error { return los.DeleteLooseObject(h) })
		if err != nil {
			return fmt.Errorf("status: compact cache: %w", err)
		}
	}
	repo, err := git.PlainOpen(c.dir)
	if err != nil {
		return fmt.Errorf("status: reopen cache: %w", err)
	}
	c.repo = repo
	return nil
}

// keepHead adds commit h and every object of its tree to keep.
func keepHead(s storer.EncodedObjectStorer, h plumbing.Hash, keep map[plumbing.Hash]bool) error {
	if keep[h] {
		return nil
	}
	c, err := object.GetCommit(s, h)
	if err != nil {
		return fmt.Errorf("commit %s: %w", h, err)
	}
	keep[h] = true
	return keepTree(s, c.TreeHash, keep)
}

func keepTree(s storer.EncodedObjectStorer, h plumbing.Hash, keep map[plumbing.Hash]bool) error {
	if keep[h] {
		return nil
	}
	t, err := object.GetTree(s, h)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	keep[h] = true
	for _, e := range t.Entries {
		switch {
		case e.Mode == filemode.Dir:
			if err := keepTree(s, e.Hash, keep); err != nil {
				return err
			}
		case e.Mode != filemode.Submodule:
			keep[e.Hash] = true
		}
	}
	return nil
}

// restrict makes the cache private to the daemon's user, as the source
// cache is: it takes the group and other permissions off the directory and
// everything in it (0755 becomes 0700, 0644 becomes 0600), which also fixes
// a cache left by a version that made it world-readable. Files git adds
// later may be readable by others, but only through the 0700 directory,
// which nobody else can enter. Symbolic links are left alone (chmod would
// follow them out of the cache), and so is a file that vanishes meanwhile
// (git replaces files by renaming).
func restrict(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && (d.IsDir() || d.Type().IsRegular()) {
			var info fs.FileInfo
			if info, err = d.Info(); err == nil && info.Mode().Perm()&0o077 != 0 {
				err = os.Chmod(path, info.Mode().Perm()&^0o077)
			}
		}
		if errors.Is(err, fs.ErrNotExist) && path != dir {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("status: make cache %s private: %w", dir, err)
	}
	return nil
}
