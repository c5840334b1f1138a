package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// signedCommit commits the work tree's files with go-git, signed by key
// (unsigned when key is nil), and pushes with the git CLI.
func (w *workTree) signedCommit(msg string, files map[string]string, key *openpgp.Entity) string {
	w.t.Helper()
	for p, c := range files {
		full := filepath.Join(w.dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	repo, err := git.PlainOpen(w.dir)
	if err != nil {
		w.t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		w.t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.invalid", When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.push()
	return h.String()
}

func TestDaemonAppliesOnlySignedRevisions(t *testing.T) {
	trusted, err := openpgp.NewEntity("Ops", "wirekeeper test", "ops@example.net", nil)
	if err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(t.TempDir(), "keyring.asc")
	f, _ := os.Create(keyring)
	aw, _ := armor.Encode(f, openpgp.PublicKeyType, nil)
	if err := trusted.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	f.Close()

	r := newRig(t)
	r.keyring = keyring
	good := r.work.signedCommit("signed specs", map[string]string{"specs/ovs.yaml": specs}, trusted)
	r.start()
	r.waitRemote("the signed revision", func(ns *reconciler.NodeStatus) bool { return ns.AppliedRevision == good && allReady(ns, 3) })

	unsigned := r.work.signedCommit("unsigned change", map[string]string{"specs/ovs.yaml": strings.Replace(specs, "tap0", "tap9", 1)}, nil)
	ns, _ := r.waitRemote("the refusal", func(ns *reconciler.NodeStatus) bool { return ns.Refused != nil && ns.Refused.Revision == unsigned })
	if ns.Refused.Reason != "Unsigned" || ns.AppliedRevision != good {
		t.Errorf("unsigned head: refused %+v, applied %s", ns.Refused, ns.AppliedRevision)
	}

	other, _ := openpgp.NewEntity("Mallory", "", "mallory@example.net", nil)
	forged := r.work.signedCommit("signed by a stranger", map[string]string{"specs/ovs.yaml": strings.Replace(specs, "tap0", "tap8", 1)}, other)
	ns, _ = r.waitRemote("the second refusal", func(ns *reconciler.NodeStatus) bool { return ns.Refused != nil && ns.Refused.Revision == forged })
	if ns.Refused.Reason != "BadSignature" || ns.AppliedRevision != good {
		t.Errorf("foreign signature: refused %+v, applied %s", ns.Refused, ns.AppliedRevision)
	}
	if live := r.provider.Live(reconciler.Ref{Kind: "Mirror", Name: "tap"}); !strings.Contains(fmtSpec(live), "tap0") {
		t.Errorf("live mirror changed by a refused revision: %s", fmtSpec(live))
	}
}
