package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/utils/ioutil"
)

// receivePack is the in-process git-receive-pack of a local repository. It
// does what git-receive-pack does for a push of branches: store the pack,
// then move each ref from the old value the pusher names to the new one. It
// refuses an update when the ref is no longer at that old value (checked
// under a lock that other wirekeeper processes take too), when a git process
// holds its lock on the ref, when the ref is the checked-out branch of a
// non-bare repository (receive.denyCurrentBranch), and when it is not a
// fast-forward while receive.denyNonFastForwards is set. It deletes no ref.
type receivePack struct {
	repo *localRepo
	caps *capability.List
}

func (s *receivePack) Close() error { return nil }

func (s *receivePack) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

// AdvertisedReferencesContext lists the repository's branches and tags; an
// empty repository is no error, since a push may create its first branch.
func (s *receivePack) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	ar := packp.NewAdvRefs()
	for _, c := range []capability.Capability{capability.OFSDelta, capability.ReportStatus} {
		if err := ar.Capabilities.Set(c); err != nil {
			return nil, err
		}
	}
	if err := ar.Capabilities.Set(capability.Agent, capability.DefaultAgent()); err != nil {
		return nil, err
	}
	s.caps = ar.Capabilities
	if err := listRefs(ctx, s.repo.store, ar); err != nil {
		return nil, err
	}
	return ar, nil
}

// ReceivePack stores the pack and applies the commands. Refused commands
// are reported per ref (report-status "ng"), and the returned error is the
// report's, as go-git's clients return it.
func (s *receivePack) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	if s.caps == nil {
		if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
			return nil, err
		}
	}
	for _, c := range req.Capabilities.All() {
		if !s.caps.Supports(c) {
			return nil, fmt.Errorf("receive-pack: unsupported capability %s", c)
		}
	}
	report := packp.NewReportStatus()
	report.UnpackStatus = "ok"
	if req.Packfile != nil {
		r := ioutil.NewContextReadCloser(ctx, req.Packfile)
		err := packfile.UpdateObjectStorage(looseObjects{s.repo.store}, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			report.UnpackStatus = err.Error()
			return report, report.Error()
		}
	}
	for _, cmd := range req.Commands {
		status := "ok"
		if err := s.update(ctx, cmd); err != nil {
			status = err.Error()
		}
		report.CommandStatuses = append(report.CommandStatuses, &packp.CommandStatus{ReferenceName: cmd.Name, Status: status})
	}
	if !req.Capabilities.Supports(capability.ReportStatus) {
		return nil, report.Error()
	}
	return report, report.Error()
}

// looseObjects hides the store's PackfileWriter, so that a push's objects
// are stored one file each rather than as a pack. A push is a handful of
// objects, and a pack per push would pile up: every later session opens
// every pack's index, and every object lookup searches them all. git's
// receive-pack does the same below transfer.unpackLimit.
type looseObjects struct{ storer.Storer }

// update moves one ref, or says why not.
func (s *receivePack) update(ctx context.Context, cmd *packp.Command) error {
	name := cmd.Name
	if !strings.HasPrefix(name.String(), "refs/") || name.Validate() != nil {
		return fmt.Errorf("funny refname")
	}
	if cmd.New.IsZero() {
		return errors.New("deleting refs is not supported")
	}
	if s.repo.store.HasEncodedObject(cmd.New) != nil {
		return fmt.Errorf("missing necessary objects: %s", cmd.New)
	}
	if err := s.checkCurrentBranch(name); err != nil {
		return err
	}
	// git takes refs/...lock to update a ref: one there means a git
	// process is moving it right now.
	if _, err := os.Lstat(filepath.Join(s.repo.refDir, filepath.FromSlash(name.String())+".lock")); err == nil {
		return fmt.Errorf("cannot lock ref: %s.lock exists: another update is in progress, or one crashed and left it", name)
	}
	unlock, err := lockRefs(ctx, s.repo.refDir)
	if err != nil {
		return err
	}
	defer unlock()
	var current plumbing.Hash
	switch ref, err := s.repo.store.Reference(name); {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
	case err != nil:
		return fmt.Errorf("failed to update ref: cannot read it: %v", err)
	case ref.Type() != plumbing.HashReference:
		return fmt.Errorf("failed to update ref: it is a symbolic ref")
	default:
		current = ref.Hash()
	}
	if current != cmd.Old {
		return fmt.Errorf("failed to update ref: it is at %s but the push expected %s", shortHash(current), shortHash(cmd.Old))
	}
	if !cmd.Old.IsZero() && s.denyNonFastForwards() {
		ff, err := isAncestor(s.repo, cmd.Old, cmd.New)
		if err != nil {
			return fmt.Errorf("failed to update ref: %v", err)
		}
		if !ff {
			return errors.New("non-fast-forward (receive.denyNonFastForwards is set)")
		}
	}
	if err := writeRef(s.repo.refDir, name, cmd.New); err != nil {
		return fmt.Errorf("failed to update ref: %v", err)
	}
	return nil
}

// checkCurrentBranch refuses, as git does by default, to move the branch a
// non-bare repository has checked out: its worktree and index would no
// longer match HEAD.
func (s *receivePack) checkCurrentBranch(name plumbing.ReferenceName) error {
	if s.repo.bare {
		return nil
	}
	head, err := s.repo.store.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference || head.Target() != name {
		return nil
	}
	if v := strings.ToLower(s.repo.configValue("receive", "denyCurrentBranch")); v == "ignore" || v == "warn" || v == "false" || v == "no" || v == "off" {
		return nil
	}
	return fmt.Errorf("refusing to update the checked-out branch %s of a non-bare repository (receive.denyCurrentBranch)", name.Short())
}

func (s *receivePack) denyNonFastForwards() bool {
	v, err := strconv.ParseBool(s.repo.configValue("receive", "denyNonFastForwards"))
	return err == nil && v
}

// configValue is a value of the repository's own config; "" when unset or
// unreadable.
func (r *localRepo) configValue(section, key string) string {
	cfg, err := r.repo.Config()
	if err != nil {
		return ""
	}
	return cfg.Raw.Section(section).Option(key)
}

func isAncestor(r *localRepo, old, new plumbing.Hash) (bool, error) {
	oc, err := object.GetCommit(r.store, old)
	if err != nil {
		return false, err
	}
	nc, err := object.GetCommit(r.store, new)
	if err != nil {
		return false, err
	}
	return oc.IsAncestor(nc)
}

func shortHash(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing (a new ref)"
	}
	return h.String()[:7]
}

// lockRefs takes an flock on the directory refs live in, so that updates
// by this and other wirekeeper processes are serialized. A lock file inside
// refs/ (git's own refs/...lock) would not do: go-git reads every file
// under refs/ as a ref, and a fetch listing refs at that moment would fail
// on the empty lock file. It waits until ctx is done.
func lockRefs(ctx context.Context, refDir string) (unlock func(), err error) {
	f, err := os.Open(refDir)
	if err != nil {
		return nil, fmt.Errorf("cannot lock refs: %v", err)
	}
	unlock, err = flockWait(ctx, f, syscall.LOCK_EX, 5*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("cannot lock refs: %v", err)
	}
	return unlock, nil
}

// writeRef points name at h by renaming a new file over the ref, so that a
// reader sees the old value or the new one, never an empty file. The new
// file is written in refDir itself, outside refs/, for the same reason.
func writeRef(refDir string, name plumbing.ReferenceName, h plumbing.Hash) error {
	path := filepath.Join(refDir, filepath.FromSlash(name.String()))
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(refDir, "wirekeeper-ref-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(h.String() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
