// Package source pulls spec revisions from git for `wirekeeper run` and
// `wirekeeper plan`. It keeps a bare clone of the spec repository in a cache
// folder, fetches only the tracked branch, and reads the spec tree of a
// commit straight from the object store, without a worktree. Everything is
// done in-process with go-git: nothing shells out to git.
package source

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Errors that callers tell apart with errors.Is; the returned errors wrap
// them together with the cause.
var (
	// ErrBranchNotFound: the branch does not exist on the remote (deleted,
	// never pushed, or the repository is empty).
	ErrBranchNotFound = errors.New("branch not found on the remote")
	// ErrUnreachable: the remote cannot be reached or refused us: network,
	// DNS, connection refused, timeout, SSH host key or authentication
	// failure, missing repository.
	ErrUnreachable = errors.New("remote unreachable")
	// ErrUnsigned: signatures are required and the commit carries none.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrBadSignature: the commit's signature does not verify against the
	// keyring (unknown key, tampered commit, unsupported format).
	ErrBadSignature = errors.New("commit signature is not trusted")
)

// DefaultBranch is the branch followed when Options.Branch is empty.
const DefaultBranch = "main"

// Options configures a Source.
type Options struct {
	// URL of the spec repository: https://, http://, ssh://, scp-style
	// (git@host:org/repo.git), git://, file://, or a local path.
	URL string
	// Branch to follow; default "main".
	Branch string
	// Path is the spec folder inside the repository; "" or "." is the root.
	// It must not leave the repository.
	Path string
	// CacheDir holds the bare clone, in CacheDir/<host-path>-<hash of URL>;
	// default os.UserCacheDir()/wirekeeper.
	CacheDir string
	Auth     AuthOptions
	// VerifyKeyring is an armored OpenPGP public keyring. When set, Verify
	// accepts only commits signed by one of its keys.
	VerifyKeyring string
	// AllowedSigners is a git allowed signers file (gpg.ssh.
	// allowedSignersFile). When set, Verify accepts commits SSH-signed by
	// one of its keys; with VerifyKeyring as well, either kind.
	AllowedSigners string
	// WatchRefs, a ref prefix such as refs/wirekeeper/lease/, names refs
	// each Fetch brings along with the branch (none there is fine), for
	// Watched; "" fetches the branch alone.
	WatchRefs string
	// Logger receives clone, fetch and re-clone events; default discards.
	Logger *slog.Logger
	// Names are the options' names in errors and warnings.
	Names OptionNames
}

// OptionNames are the names an operator knows the options by, such as a
// command's flags and environment variables ("--ssh-key-file
// (WIREKEEPER_SSH_KEY_FILE)"): errors and warnings name an option so. An
// empty name stands for the Go field itself, e.g. Auth.SSHKeyFile.
type OptionNames struct {
	Path, CacheDir                           string
	SSHKeyFile, SSHKeyPassphraseFile         string
	KnownHostsFile, InsecureSkipHostKeyCheck string
	HTTPSUsername, HTTPSPasswordFile         string
}

// orFields fills the empty names with the Go fields'.
func (n OptionNames) orFields() OptionNames {
	for _, f := range []struct {
		name  *string
		field string
	}{
		{&n.Path, "Path"}, {&n.CacheDir, "CacheDir"},
		{&n.SSHKeyFile, "Auth.SSHKeyFile"}, {&n.SSHKeyPassphraseFile, "Auth.SSHKeyPassphraseFile"},
		{&n.KnownHostsFile, "Auth.KnownHostsFile"}, {&n.InsecureSkipHostKeyCheck, "Auth.InsecureSkipHostKeyCheck"},
		{&n.HTTPSUsername, "Auth.HTTPSUsername"}, {&n.HTTPSPasswordFile, "Auth.HTTPSPasswordFile"},
	} {
		if *f.name == "" {
			*f.name = f.field
		}
	}
	return n
}

// Revision is one commit of the spec branch.
type Revision struct {
	Hash    string
	Short   string // first 7 characters of Hash
	Message string
	Author  string // "Name <email>"
	Time    time.Time
	// Previous is the head the previous Fetch returned ("" on the first);
	// ForcePushed is set when Previous is not an ancestor of this head, i.e.
	// the branch history was rewritten.
	Previous    string
	ForcePushed bool
	// Recloned is set when the cache was found damaged and cloned again;
	// RecloneReason says what was wrong.
	Recloned      bool
	RecloneReason string
}

// Source fetches and reads one branch of one spec repository. Its methods
// are safe for concurrent use; processes sharing a cache folder take a file
// lock on it.
type Source struct {
	remote  *remote
	branch  string
	path    string // cleaned, "." for the root
	dir     string // the cache: a bare repository
	auth    transport.AuthMethod
	keyring openpgp.EntityList
	keyFile string
	// signers are AllowedSigners' entries, read from signersFile.
	signers     []allowedSigner
	signersFile string
	log         *slog.Logger

	mu   sync.Mutex
	last plumbing.Hash // head returned by the previous Fetch
	// read is the commit whose spec tree this Source last read whole from
	// the cache (under mu): an unchanged head is checked shallowly before
	// each fetch instead of read again (see tryUpdate).
	read plumbing.Hash
	// readObjects are the objects read with read's spec tree, kept for the
	// Load of that revision, which takes them instead of reading every blob
	// again (see openCommit).
	readObjects cache.Object

	watch   string // Options.WatchRefs
	wmu     sync.Mutex
	watched map[string]plumbing.Hash // nil until a fetch saw the watched refs
}

// New validates opts, reads the key, password and keyring files, and builds
// the auth method. It neither touches the network nor the cache folder.
func New(opts Options) (*Source, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names := opts.Names.orFields()
	r, err := parseRemote(opts.URL)
	if err != nil {
		return nil, err
	}
	branch, err := cleanBranch(opts.Branch)
	if err != nil {
		return nil, err
	}
	specPath, err := cleanPath(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", names.Path, err)
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("source: %s is unset and there is no user cache folder: %w", names.CacheDir, err)
		}
		cacheDir = filepath.Join(base, "wirekeeper")
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return nil, fmt.Errorf("source: %s: %w", names.CacheDir, err)
	}
	if err := checkWatch(opts.WatchRefs); err != nil {
		return nil, err
	}
	auth, err := buildAuth(r, opts.Auth, names, log)
	if err != nil {
		return nil, err
	}
	s := &Source{
		remote: r,
		branch: branch,
		path:   specPath,
		dir:    filepath.Join(cacheDir, r.cacheName()),
		auth:   auth,
		log:    log.With("url", r.redacted, "branch", branch),
		watch:  opts.WatchRefs,
	}
	if opts.VerifyKeyring != "" {
		if s.keyring, err = readKeyring(opts.VerifyKeyring); err != nil {
			return nil, err
		}
		s.keyFile = opts.VerifyKeyring
	}
	if opts.AllowedSigners != "" {
		if s.signers, err = readAllowedSigners(opts.AllowedSigners); err != nil {
			return nil, err
		}
		s.signersFile = opts.AllowedSigners
	}
	return s, nil
}

// URL returns the URL as given, with any password or token replaced by
// xxxxx: safe to log.
func (s *Source) URL() string { return s.remote.redacted }

// RemoteURL returns the URL to push to with Auth(): local paths made
// absolute, credentials removed (Auth carries them).
func (s *Source) RemoteURL() string { return s.remote.fetchURL }

// Auth returns the auth method used to fetch, for pushing to the same
// remote; nil for git://, local repositories, and remotes without
// credentials.
func (s *Source) Auth() transport.AuthMethod { return s.auth }

// Branch returns the followed branch.
func (s *Source) Branch() string { return s.branch }

// Path returns the cleaned spec folder, "." for the repository root.
func (s *Source) Path() string { return s.path }

func cleanBranch(b string) (string, error) {
	b = strings.TrimPrefix(b, "refs/heads/")
	if b == "" {
		return DefaultBranch, nil
	}
	if err := plumbing.NewBranchReferenceName(b).Validate(); err != nil || strings.HasPrefix(b, "-") {
		return "", fmt.Errorf("source: %q is not a valid branch name", b)
	}
	return b, nil
}

// cleanPath cleans a repository-relative slash path, refusing ones that
// leave the repository.
func cleanPath(p string) (string, error) {
	if path.IsAbs(p) {
		return "", fmt.Errorf("%q must be relative to the repository root", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q leaves the repository", p)
	}
	return c, nil
}

func newRevision(c *object.Commit) *Revision {
	h := c.Hash.String()
	return &Revision{
		Hash:    h,
		Short:   h[:7],
		Message: strings.TrimRight(c.Message, "\n"),
		Author:  fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
		Time:    c.Committer.When,
	}
}
