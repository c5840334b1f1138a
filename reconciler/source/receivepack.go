package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/utils/ioutil"
)

// receivePack is the in-process git-receive-pack of a local repository. It
// does what git-receive-pack does for a push of branches: store the pack,
// then move each ref from the old value the pusher names to the new one,
// refusing the update when the ref is no longer at the old value (checked
// under git's own lock file, refs/...lock, so that it holds against git and
// other processes too), when it is the checked-out branch of a non-bare
// repository (receive.denyCurrentBranch), and when it is not a fast-forward
// and receive.denyNonFastForwards is set. It does not delete refs.
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
	refs, err := s.repo.store.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && r.Name() != plumbing.HEAD {
			ar.References[r.Name().String()] = r.Hash()
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
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
		err := packfile.UpdateObjectStorage(s.repo.store, r)
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
		if err := s.update(cmd); err != nil {
			status = err.Error()
		}
		report.CommandStatuses = append(report.CommandStatuses, &packp.CommandStatus{ReferenceName: cmd.Name, Status: status})
	}
	if !req.Capabilities.Supports(capability.ReportStatus) {
		return nil, report.Error()
	}
	return report, report.Error()
}

// update moves one ref, or says why not.
func (s *receivePack) update(cmd *packp.Command) error {
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
	lock, err := lockRef(s.repo.refDir, name)
	if err != nil {
		return err
	}
	defer lock.abandon()
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
	return lock.commit(cmd.New)
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

// refLock is git's lock on a ref: the file <ref>.lock, created exclusively;
// the new value is written into it and renamed over the ref.
type refLock struct {
	path string
	f    *os.File
}

func lockRef(refDir string, name plumbing.ReferenceName) (*refLock, error) {
	path := filepath.Join(refDir, filepath.FromSlash(name.String()))
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return nil, fmt.Errorf("cannot lock ref: %v", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("cannot lock ref: %s.lock exists: another update is in progress, or one crashed and left it", name)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot lock ref: %v", err)
	}
	return &refLock{path: path, f: f}, nil
}

// commit writes h and moves it into place, releasing the lock.
func (l *refLock) commit(h plumbing.Hash) error {
	_, err := l.f.WriteString(h.String() + "\n")
	if err == nil {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err == nil {
		err = os.Rename(l.path+".lock", l.path)
	}
	if err != nil {
		os.Remove(l.path + ".lock")
		return fmt.Errorf("failed to update ref: %v", err)
	}
	return nil
}

// abandon releases a lock that was not committed; a no-op after commit.
func (l *refLock) abandon() {
	if l.f != nil {
		l.f.Close()
		os.Remove(l.path + ".lock")
	}
}
