package source

import (
	"errors"
	"io/fs"
	"os"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// openBare opens the bare repository at dir, as git.PlainOpen does, but
// with its packfiles kept open until close is called. go-git otherwise
// opens the packfile and reads its header again for every object it
// reads: checking and loading a spec tree of 1,000 files made 2,000
// opens, each resolving every component of the path, which cost a daemon
// most of its CPU at every poll of a fleet's spec repository. close must
// be called once the repository and what was read from it lazily (trees,
// blobs) are no longer used, and before dir is removed.
func openBare(dir string) (repo *git.Repository, close func(), err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, git.ErrRepositoryNotExists
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true})
	repo, err = git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return repo, func() { st.Close() }, nil
}
