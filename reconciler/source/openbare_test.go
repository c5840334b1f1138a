package source

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
)

// A pack index is served from memory, byte for byte what is on disk, and
// read-only; any other file is the disk's.
func TestIdxInMemory(t *testing.T) {
	dir := t.TempDir()
	idx := bytes.Repeat([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}, 1000)
	for name, data := range map[string][]byte{"pack-1.idx": idx, "pack-1.pack": []byte("PACK")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	fs := idxInMemory{osfs.New(dir)}

	f, err := fs.Open("pack-1.idx")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*memFile); !ok {
		t.Fatalf("the index is a %T, not read into memory", f)
	}
	if f.Name() != "pack-1.idx" {
		t.Errorf("Name() = %q", f.Name())
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, idx) {
		t.Fatalf("read %d bytes (err %v), want the file's %d", len(got), err, len(idx))
	}
	if _, err := f.Seek(8, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 1); err != nil || string(head[1:]) != "Oc\x00" {
		t.Errorf("ReadAt(1) = %q, %v", head, err)
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("an index in memory accepted a write")
	}

	p, err := fs.Open("pack-1.pack")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.(*memFile); ok {
		t.Error("a packfile was read into memory")
	}
}
