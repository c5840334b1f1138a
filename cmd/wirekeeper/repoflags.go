package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// repoFlags are the flags `plan` and `status` share: where the repository
// is, how to reach it, and where to cache it.
type repoFlags struct {
	url, statusBranch, cacheDir string
	statusRepo, statusRefPrefix string
	auth                        source.AuthOptions
	// verifyKeyring and allowedSigners verify signatures (plan's trust
	// check); empty for status.
	verifyKeyring, allowedSigners string
}

func (f *repoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "repo", "", "the spec repository: https://, ssh://, git://, file://, user@host:path or a local path (required)")
	fs.StringVar(&f.statusBranch, "status-branch", status.DefaultBranch, "the branch the daemons' status is folded into")
	fs.StringVar(&f.statusRepo, "status-repo", "", "the repository the daemons push their status to, when not --repo (the daemons' --status-repo)")
	fs.StringVar(&f.statusRefPrefix, "status-ref-prefix", status.DefaultRefPrefix, "where each node's own status ref is (the daemons' --status-ref-prefix)")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "where to keep the clones between runs (default: a temporary directory, removed on exit); not to be shared by two runs at once")
	fs.StringVar(&f.auth.SSHKeyFile, "ssh-key-file", "", "SSH private key for ssh:// and user@host:path repositories, readable by its owner only (0600 or 0400)")
	fs.StringVar(&f.auth.KnownHostsFile, "known-hosts-file", "", "accepted SSH host keys (default: the SSH client's known_hosts)")
	fs.BoolVar(&f.auth.InsecureSkipHostKeyCheck, "insecure-skip-host-key-check", false, "accept any SSH host key (for tests only)")
	fs.StringVar(&f.auth.HTTPSUsername, "https-username", "", "user name for https:// repositories")
	fs.StringVar(&f.auth.HTTPSPasswordFile, "https-password-file", "", "file holding the password or token for https:// repositories")
}

// check validates the flags, each problem on its own.
func (f *repoFlags) check() []error {
	var errs []error
	if f.url == "" {
		errs = append(errs, errors.New("--repo is required"))
	} else if err := setRepo(&runConfig{}, f.url); err != nil {
		errs = append(errs, fmt.Errorf("--repo %s: %w", redactURL(f.url), err))
	}
	if err := checkBranchName(f.statusBranch); err != nil {
		errs = append(errs, fmt.Errorf("--status-branch: %w", err))
	}
	if f.statusRepo != "" {
		if err := setRepo(&runConfig{}, f.statusRepo); err != nil {
			errs = append(errs, fmt.Errorf("--status-repo %s: %w", redactURL(f.statusRepo), err))
		}
	}
	if err := status.CheckRefPrefix(f.statusRefPrefix); err != nil {
		errs = append(errs, fmt.Errorf("--status-ref-prefix: %w", err))
	} else if err := checkBranchName(f.statusBranch); err == nil {
		if err := status.CheckRefs(f.statusBranch, f.statusRefPrefix); err != nil {
			errs = append(errs, fmt.Errorf("--status-ref-prefix and --status-branch: %w", err))
		}
	}
	if f.auth.InsecureSkipHostKeyCheck && f.auth.KnownHostsFile != "" {
		errs = append(errs, errors.New("--insecure-skip-host-key-check contradicts --known-hosts-file: choose one"))
	}
	return errs
}

// source opens the spec repository with its cache under cache/source,
// following branch: Resolve fetches it before looking for a commit hash.
func (f *repoFlags) source(branch, path, cache string, log *slog.Logger) (*source.Source, error) {
	return source.New(source.Options{
		URL: f.url, Branch: branch, Path: path,
		CacheDir: filepath.Join(cache, "source"), Auth: f.auth, Logger: log,
		VerifyKeyring: f.verifyKeyring, AllowedSigners: f.allowedSigners,
		Names: repoFlagNames,
	})
}

// repoFlagNames names source's options in its errors as `plan` and
// `status` take them.
var repoFlagNames = source.OptionNames{
	Path: "--path", CacheDir: "--cache-dir",
	SSHKeyFile: "--ssh-key-file", KnownHostsFile: "--known-hosts-file",
	InsecureSkipHostKeyCheck: "--insecure-skip-host-key-check",
	HTTPSUsername:            "--https-username", HTTPSPasswordFile: "--https-password-file",
}

// statusReader opens the status of the daemons: the node refs and the
// status branch of src's repository, or of --status-repo (reached with the
// same credentials), with its own cache (a status Writer's cache is never
// shared).
func (f *repoFlags) statusReader(src *source.Source, cache string, log *slog.Logger) (*status.Writer, error) {
	url, auth := src.RemoteURL(), src.Auth()
	if f.statusRepo != "" {
		s, err := source.New(source.Options{URL: f.statusRepo, CacheDir: filepath.Join(cache, "source"), Auth: f.auth, Logger: log, Names: repoFlagNames})
		if err != nil {
			return nil, fmt.Errorf("--status-repo: %w", err)
		}
		url, auth = s.RemoteURL(), s.Auth()
	}
	key := sha256.Sum256([]byte(url))
	return status.NewWriter(status.WriterOptions{
		URL: url, Branch: f.statusBranch, RefPrefix: f.statusRefPrefix, Auth: auth,
		CacheDir: filepath.Join(cache, "status-read", hex.EncodeToString(key[:8])),
		Logger:   log,
	})
}

// statusWhere says where the daemons' status is read from, for messages.
func (f *repoFlags) statusWhere(src *source.Source) string {
	repo := src.URL()
	if f.statusRepo != "" {
		repo = redactURL(f.statusRepo)
	}
	return fmt.Sprintf("branch %s or %s* of %s", f.statusBranch, f.statusRefPrefix, repo)
}

// checkNodeFlag accepts "" or a node name as the specs' node: fields have it.
func checkNodeFlag(node string) error {
	if node == "" {
		return nil
	}
	if err := setNode(&runConfig{}, node); err != nil {
		return fmt.Errorf("--node %q: %w", node, err)
	}
	return nil
}

// commandCacheDir returns dir, or a new temporary directory when dir is
// empty; cleanup removes what was created.
func commandCacheDir(dir, tempPrefix string) (string, func(), error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		return abs, func() {}, err
	}
	tmp, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return "", func() {}, fmt.Errorf("cannot create a cache directory: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// flagsExit is the exit status of a one-shot command (plan, status) whose
// flags failed to parse with err, bad being its status for bad flags; ok
// is true when they parsed.
func flagsExit(cmd string, err error, bad int, stderr io.Writer) (code int, ok bool) {
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case errors.Is(err, errFlagSyntax):
		return bad, false // the flag package has said why, with the usage
	}
	fmt.Fprintf(stderr, "wirekeeper %s: %v\n", cmd, err)
	return bad, false
}

// startCommand gives a one-shot command its context, ended by SIGINT or
// SIGTERM, and its cache directory (commandCacheDir); done releases both.
func startCommand(cacheDir, tempPrefix string) (ctx context.Context, cache string, done func(), err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cache, cleanup, err := commandCacheDir(cacheDir, tempPrefix)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return ctx, cache, func() { cleanup(); stop() }, nil
}

// warnLogger reports the source's and status reader's warnings (an
// unverified host key, a damaged cache) on w.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
