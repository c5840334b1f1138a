package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// go-git's client for file:// URLs (and for plain paths, which it reads as
// file://) runs the git-upload-pack and git-receive-pack programs. The
// wirekeeper binary starts no process (test/security runs it with tripwires
// in place of git), so the file protocol is served in-process instead, by
// uploadPack and receivePack. go-git has a server transport too, but it
// walks the whole history on every fetch, takes a non-bare repository's
// worktree for its git directory, and moves a ref without checking its old
// value, which the status writer's compare-and-swap relies on.
//
// client.Protocols is process-global, hence one installation, here, in the
// package that owns git transport: every go-git fetch and push of the
// process, this package's and the status writer's (which gets its transport
// from NewTransport), goes through it. Hooks of a local repository are not
// run: they are programs.
func init() {
	client.InstallProtocol("file", localTransport{})
}

// NewTransport returns the go-git transport for ep, with file:// URLs and
// local paths served in-process: no transport it returns starts a process.
// Pushers and fetchers outside this package (the status writer) use it
// rather than go-git's client package, so that they depend on this
// package's installation explicitly.
func NewTransport(ep *transport.Endpoint) (transport.Transport, error) {
	return client.NewClient(ep)
}

// localTransport serves repositories on this machine's file system.
type localTransport struct{}

func (localTransport) NewUploadPackSession(ep *transport.Endpoint, _ transport.AuthMethod) (transport.UploadPackSession, error) {
	repo, err := openLocal(ep)
	if err != nil {
		return nil, err
	}
	return &uploadPack{repo: repo}, nil
}

func (localTransport) NewReceivePackSession(ep *transport.Endpoint, _ transport.AuthMethod) (transport.ReceivePackSession, error) {
	repo, err := openLocal(ep)
	if err != nil {
		return nil, err
	}
	return &receivePack{repo: repo}, nil
}

// localRepo is a repository on the local file system, bare or not.
type localRepo struct {
	repo  *git.Repository
	store storer.Storer
	// refDir is the directory refs/ lives in: the git directory, or the
	// common directory of a linked worktree.
	refDir string
	bare   bool
}

// openLocal opens the repository at ep's path. A path that holds no
// repository is transport.ErrRepositoryNotFound, named in the error.
func openLocal(ep *transport.Endpoint) (*localRepo, error) {
	dir, err := filepath.Abs(filepath.FromSlash(ep.Path))
	if err != nil {
		return nil, fmt.Errorf("local repository %s: %w", ep.Path, err)
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s is not a git repository (no such directory, or neither a .git folder nor a bare repository in it): %w", dir, transport.ErrRepositoryNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the local repository %s: %w", dir, err)
	}
	fsStore, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("local repository %s: unexpected storage %T", dir, repo.Storer)
	}
	gitDir := fsStore.Filesystem().Root()
	refDir := gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gitDir, common)
		}
		refDir = filepath.Clean(common)
	}
	_, err = repo.Worktree()
	return &localRepo{repo: repo, store: repo.Storer, refDir: refDir, bare: errors.Is(err, git.ErrIsBareRepository)}, nil
}
