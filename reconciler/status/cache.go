package status

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// cacheMarker, a file in the cache directory, proves the directory is a
// status cache, so that a misconfigured CacheDir (a home directory, the spec
// source's cache) is refused instead of wiped.
const cacheMarker = "wirekeeper-status-cache"

// cache is the Writer's bare repository.
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

// compact packs every reachable object into one packfile and drops the
// rest. The storage is reopened in between, since it keeps indexes of the
// packs the repack deletes.
func (c *cache) compact() error {
	if err := c.repo.RepackObjects(&git.RepackConfig{}); err != nil {
		return fmt.Errorf("status: repack cache: %w", err)
	}
	repo, err := git.PlainOpen(c.dir)
	if err != nil {
		return fmt.Errorf("status: reopen cache: %w", err)
	}
	c.repo = repo
	if err := repo.Prune(git.PruneOptions{Handler: repo.DeleteObject}); err != nil {
		return fmt.Errorf("status: prune cache: %w", err)
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
