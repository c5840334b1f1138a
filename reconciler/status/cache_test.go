package status

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The status cache holds what the status branch holds: it is the daemon's
// own, 0700 like the source cache, and a cache an older version left
// readable by everyone is made private when a Writer opens it.
func TestWriterCacheIsPrivate(t *testing.T) {
	url, _ := newRemote(t)
	w := newTestWriter(t, url)
	files, _ := nodeFiles(t, "edge-1", 1)
	if _, err := w.Write(ctx(t), "edge-1", files, "one"); err != nil {
		t.Fatal(err)
	}
	dir := w.opts.CacheDir
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("a new cache directory has mode %#o, want 0700", got)
	}
	if got := mode(t, filepath.Join(dir, cacheMarker)); got != 0o600 {
		t.Errorf("the cache marker has mode %#o, want 0600", got)
	}

	// As an older version left it.
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewWriter(w.opts)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := mode(t, path); got != want {
			t.Errorf("after reopening, %s has mode %#o, want %#o", path, got, want)
		}
		checked++
		return nil
	})
	if err != nil || checked < 5 {
		t.Fatalf("walked %d entries of the cache: %v", checked, err)
	}
	f2, _ := nodeFiles(t, "edge-1", 2)
	if committed, err := again.Write(ctx(t), "edge-1", f2, "two"); err != nil || !committed {
		t.Errorf("Write from the reopened cache = %v, %v; want true, nil", committed, err)
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}
