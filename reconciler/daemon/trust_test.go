package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/trust"
)

// The daemon of node b-1 applies what site b's key signs and refuses, as
// Untrusted, a commit by site a's key that changes b-1's mirror, keeping
// the last good revision; the daemon of a-1 takes the same commit.
func TestTrustPolicyRefusesAnotherSitesKey(t *testing.T) {
	keys := testenv.NewSiteKeys(t, "a", "b")
	signersFile := keys.AllowedSigners
	p, err := trust.Load(keys.TrustPolicy)
	if err != nil {
		t.Fatal(err)
	}

	r := newRig(t)
	signed := func(site, msg string, files map[string]string) string {
		t.Helper()
		for name, content := range files {
			full := filepath.Join(r.work.dir, name)
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r.work.git("add", "-A")
		r.work.git(append(testenv.SignWith(keys.Private[site]), "commit", "-q", "-m", msg)...)
		r.work.push()
		return r.work.git("rev-parse", "HEAD")
	}
	first := signed("b", "both sites", map[string]string{"specs/a.yaml": testenv.SiteSpecs("a", "tap0"), "specs/b.yaml": testenv.SiteSpecs("b", "tap0")})

	// Node b-1 first: its first revision is signed by b, who may change
	// all of b-1's objects.
	r.node, r.allowedSigners, r.noAggregate = "b-1", signersFile, true
	state := filepath.Join(t.TempDir(), "trusted-revision")
	r.configure = func(o *daemon.Options) { o.Trust, o.TrustState = p, state }
	r.start()
	r.waitFor("b-1 to apply the first revision", func() bool { rev, _ := r.engine.Revision(); return rev.Hash == first })
	// The engine takes the revision before the daemon records it.
	r.waitFor("the trust state to record the first revision", func() bool {
		got, _ := os.ReadFile(state)
		return strings.TrimSpace(string(got)) == first
	})

	bad := signed("a", "a edits b's mirror", map[string]string{"specs/b.yaml": testenv.SiteSpecs("b", "tap9")})
	r.waitFor("b-1 to refuse a's commit", func() bool {
		ns := r.engine.Status()
		return ns.Refused != nil && ns.Refused.Revision == bad
	})
	ns := r.engine.Status()
	if ns.Refused.Reason != "Untrusted" || !strings.Contains(ns.Refused.Message, "commit "+bad[:7]+" changes Mirror/mb on node b-1") ||
		!strings.Contains(ns.Refused.Message, "may not change a Mirror on node b-1") || ns.AppliedRevision != first {
		t.Errorf("b-1's status: refused %+v, applied %s; want Untrusted naming the commit and the object, %s still applied", ns.Refused, ns.AppliedRevision, first)
	}
	// A later commit by b does not launder a's change.
	later := signed("b", "b edits its mirror", map[string]string{"specs/b.yaml": testenv.SiteSpecs("b", "tap5")})
	r.waitFor("b-1 to refuse the later commit too", func() bool {
		ns := r.engine.Status()
		return ns.Refused != nil && ns.Refused.Revision == later
	})
	if ns := r.engine.Status(); !strings.Contains(ns.Refused.Message, "commit "+bad[:7]) || ns.AppliedRevision != first {
		t.Errorf("b-1's status after b's commit: refused %+v, applied %s", ns.Refused, ns.AppliedRevision)
	}
	r.stop()

	// Node a-1, from the same trust state: a's commit did not touch a-1's
	// objects, b's neither: it applies the head.
	a := newRig(t)
	a.remote, a.work = r.remote, r.work
	a.node, a.allowedSigners, a.noAggregate = "a-1", signersFile, true
	a.configure = func(o *daemon.Options) { o.Trust, o.TrustState = p, state }
	a.start()
	a.waitFor("a-1 to apply the head", func() bool { rev, _ := a.engine.Revision(); return rev.Hash == later })
}
