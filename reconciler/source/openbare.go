package source

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// openBare opens the bare repository at dir, as git.PlainOpen does, but
// with its packfiles kept open until close is called, and objects as its
// cache of decoded objects (a new one when nil). go-git otherwise
// opens the packfile and reads its header again for every object it
// reads: checking and loading a spec tree of 1,000 files made 2,000
// opens, each resolving every component of the path, which cost a daemon
// most of its CPU at every poll of a fleet's spec repository. close must
// be called once the repository and what was read from it lazily (trees,
// blobs) are no longer used, and before dir is removed.
func openBare(dir string, objects cache.Object) (repo *git.Repository, close func(), err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, git.ErrRepositoryNotExists
	}
	if objects == nil {
		objects = cache.NewObjectLRUDefault()
	}
	st := filesystem.NewStorageWithOptions(idxInMemory{osfs.New(dir)}, objects, filesystem.Options{KeepDescriptors: true})
	repo, err = git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return repo, func() { st.Close() }, nil
}

// maxIdxInMemory bounds the pack index read whole by idxInMemory: one of
// a million objects is 28 MB; a larger one is read from the file.
const maxIdxInMemory = 64 << 20

// idxInMemory is the cache's filesystem with every pack index (.idx) read
// whole when opened. go-git decodes an index with one read system call
// per field (256 for the fan-out table, then three per object), and it
// decodes every index of the cache each time the cache is opened, so on
// every poll: in a simulated fleet of 1,000 daemons those reads were 8% of
// all CPU (docs/design/fleet-status.md). Everything else goes to the disk
// as before.
type idxInMemory struct{ billy.Filesystem }

func (f idxInMemory) Open(name string) (billy.File, error) {
	if !strings.HasSuffix(name, ".idx") {
		return f.Filesystem.Open(name)
	}
	file, err := f.Filesystem.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxIdxInMemory+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxIdxInMemory {
		return f.Filesystem.Open(name)
	}
	return &memFile{name: file.Name(), Reader: bytes.NewReader(data)}, nil
}

// Capabilities and Chmod are those of the disk: go-git asks for both.
func (f idxInMemory) Capabilities() billy.Capability { return billy.Capabilities(f.Filesystem) }

func (f idxInMemory) Chmod(name string, mode os.FileMode) error {
	c, ok := f.Filesystem.(billy.Chmod)
	if !ok {
		return errors.ErrUnsupported
	}
	return c.Chmod(name, mode)
}

// memFile is a read-only billy.File over bytes read whole.
type memFile struct {
	name string
	*bytes.Reader
}

func (m *memFile) Name() string              { return m.name }
func (m *memFile) Write([]byte) (int, error) { return 0, errors.ErrUnsupported }
func (m *memFile) Close() error              { return nil }
func (m *memFile) Lock() error               { return nil }
func (m *memFile) Unlock() error             { return nil }
func (m *memFile) Truncate(size int64) error { return errors.ErrUnsupported }
