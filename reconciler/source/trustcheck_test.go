package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler/trust"
)

// trustRepo is a spec repository written with the git CLI, commits signed
// by the SSH key of the site named (or unsigned).
type trustRepo struct {
	t    *testing.T
	dir  string
	keys map[string]string // site -> private key
}

func (r *trustRepo) commit(site, msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	testenv.Git(r.t, r.dir, "add", "-A")
	args := []string{"commit", "-q", "-m", msg}
	if site != "" {
		args = append(testenv.SignWith(r.keys[site]), args...)
	}
	testenv.Git(r.t, r.dir, args...)
	return testenv.Git(r.t, r.dir, "rev-parse", "HEAD")
}

// newTrustSetup makes keys for sites a and b, allowed signers for both, a
// policy letting a change nodes a-* and b change nodes b-*, and a
// repository whose first commit (signed by a) holds both sites.
func newTrustSetup(t *testing.T) (*trustRepo, *trust.Policy, string, string) {
	t.Helper()
	keys := testenv.NewSiteKeys(t, "a", "b")
	r := &trustRepo{t: t, dir: filepath.Join(t.TempDir(), "specs"), keys: keys.Private}
	p, err := trust.Load(keys.TrustPolicy)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, t.TempDir(), "init", "-q", "-b", "main", r.dir)
	first := r.commit("a", "both sites", map[string]string{"a.yaml": testenv.SiteSpecs("a", "tap0"), "b.yaml": testenv.SiteSpecs("b", "tap0")})
	return r, p, keys.AllowedSigners, first
}

func checkTrust(t *testing.T, r *trustRepo, signers, applied, node string, p *trust.Policy) error {
	t.Helper()
	s := newSource(t, r.dir, func(o *Options) { o.AllowedSigners = signers })
	head := mustFetch(t, s)
	return s.CheckTrust(context.Background(), applied, head, node, p)
}

func wantUntrusted(t *testing.T, err error, texts ...string) {
	t.Helper()
	if !errors.Is(err, ErrUntrusted) {
		t.Fatalf("CheckTrust = %v, want ErrUntrusted", err)
	}
	for _, w := range texts {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("CheckTrust = %v, want it to say %q", err, w)
		}
	}
}

// A site-A key changing site B's object is refused on B and applied on A;
// a later commit by a B key does not launder it.
func TestTrustSiteKeyChangesOtherSite(t *testing.T) {
	r, p, signers, first := newTrustSetup(t)
	bad := r.commit("a", "a edits b's mirror", map[string]string{"b.yaml": testenv.SiteSpecs("b", "tap9")})
	wantUntrusted(t, checkTrust(t, r, signers, first, "b-1", p),
		"commit "+bad[:7]+" changes Mirror/mb on node b-1", "(signer site-a of", "may not change a Mirror on node b-1")
	if err := checkTrust(t, r, signers, first, "a-1", p); err != nil {
		t.Errorf("on a-1: %v", err)
	}
	r.commit("b", "b edits its mirror", map[string]string{"b.yaml": testenv.SiteSpecs("b", "tap5")})
	wantUntrusted(t, checkTrust(t, r, signers, first, "b-1", p), "commit "+bad[:7]+" changes Mirror/mb")
	// Once b-1 enforces a revision past it (an operator's decision), the
	// check starts there.
	if err := checkTrust(t, r, signers, bad, "b-1", p); err != nil {
		t.Errorf("on b-1 from the bad commit on: %v", err)
	}
}

// A force-push to a history with an unsigned commit touching the node is
// refused; a node it does not touch takes it.
func TestTrustForcePushUnsigned(t *testing.T) {
	r, p, signers, first := newTrustSetup(t)
	applied := r.commit("b", "b edits its mirror", map[string]string{"b.yaml": testenv.SiteSpecs("b", "tap5")})
	// The daemon's cache holds the applied revision, fetched before the
	// force-push.
	s := newSource(t, r.dir, func(o *Options) { o.AllowedSigners = signers })
	mustFetch(t, s)
	testenv.Git(t, r.dir, "reset", "-q", "--hard", first)
	unsigned := r.commit("", "unsigned edit", map[string]string{"b.yaml": testenv.SiteSpecs("b", "tap6")})
	head := mustFetch(t, s)
	if !head.ForcePushed {
		t.Fatalf("the fetch after the reset is not a force-push: %+v", head)
	}
	wantUntrusted(t, s.CheckTrust(context.Background(), applied, head, "b-1", p),
		"commit "+unsigned[:7]+" changes Mirror/mb on node b-1 and its signature is not trusted")
	if err := s.CheckTrust(context.Background(), applied, head, "a-1", p); err != nil {
		t.Errorf("on a-1, which the unsigned commit does not touch: %v", err)
	}
}

// A merge commit answers only for what it changed itself: the merged
// commits answer for theirs.
func TestTrustMerges(t *testing.T) {
	r, p, signers, first := newTrustSetup(t)
	testenv.Git(t, r.dir, "checkout", "-q", "-b", "feature")
	r.commit("b", "b edits its mirror", map[string]string{"b.yaml": testenv.SiteSpecs("b", "tap5")})
	testenv.Git(t, r.dir, "checkout", "-q", "main")
	r.commit("a", "a edits its mirror", map[string]string{"a.yaml": testenv.SiteSpecs("a", "tap5")})
	testenv.Git(t, r.dir, "-c", "gpg.format=ssh", "-c", "user.signingkey="+r.keys["a"], "merge", "-q", "-S", "--no-ff", "-m", "merge feature", "feature")
	for _, node := range []string{"a-1", "b-1"} {
		if err := checkTrust(t, r, signers, first, node, p); err != nil {
			t.Errorf("a clean merge on %s: %v", node, err)
		}
	}
	// The same merge, but its signer (a) also edits b's mirror in it.
	testenv.Git(t, r.dir, "reset", "-q", "--hard", "HEAD~1")
	testenv.Git(t, r.dir, "merge", "-q", "--no-ff", "--no-commit", "feature")
	merge := r.commit("a", "merge feature, and more", map[string]string{"b.yaml": testenv.SiteSpecs("b", "tap7")})
	wantUntrusted(t, checkTrust(t, r, signers, first, "b-1", p), "commit "+merge[:7]+" changes Mirror/mb on node b-1")
}

// A node's first revision: the head's signer must be allowed for every
// object of the node.
func TestTrustFirstRevision(t *testing.T) {
	r, p, signers, first := newTrustSetup(t)
	if err := checkTrust(t, r, signers, "", "a-1", p); err != nil {
		t.Errorf("a-1 from nothing: %v", err)
	}
	wantUntrusted(t, checkTrust(t, r, signers, "", "b-1", p),
		"commit "+first[:7]+" is the first revision of the node and holds OVSManager/ovsb on node b-1")
	// No policy: nothing is checked.
	if err := checkTrust(t, r, signers, "", "b-1", nil); err != nil {
		t.Errorf("no policy: %v", err)
	}
}
