package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
)

// plan --trust-policy says per node whether its daemon would take the
// branch: site a's key changing b-1's mirror is refused on b-1, accepted
// on a-1, and the plan exits 1.
func TestPlanTrustPolicy(t *testing.T) {
	keys := testenv.NewSiteKeys(t, "a", "b")
	signersFile, policyFile := keys.AllowedSigners, keys.TrustPolicy

	remote, work := newSpecRepo(t)
	pushSpecs(t, work, testenv.SiteSpecs("a", "tap0")+testenv.SiteSpecs("b", "tap0"), "both sites")
	gitCLI(t, work, "checkout", "-q", "-b", "feature")
	if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(testenv.SiteSpecs("a", "tap1")+testenv.SiteSpecs("b", "tap9")), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, work, append(testenv.SignWith(keys.Private["a"]), "commit", "-q", "-am", "a edits both sites")...)
	gitCLI(t, work, "push", "-q", "origin", "feature")
	bad := gitCLI(t, work, "rev-parse", "HEAD")

	args := []string{"--repo", remote, "--cache-dir", t.TempDir(), "--head", "feature", "--trust-policy", policyFile, "--allowed-signers", signersFile}
	md := runCmd(runPlan, args...)
	md.expect(t, exitFail, []string{
		"- **a-1**: 1 to update, 1 unchanged — ✓ accepted under the trust policy\n",
		"- **b-1**: 1 to update, 1 unchanged — ✗ **refused under the trust policy**: source: commit " + bad[:7] + " changes Mirror/mb on node b-1",
	}, []string{"wirekeeper plan: b-1 would refuse it: source: commit " + bad[:7], "1 node(s) would refuse feature"})

	js := runCmd(runPlan, append(args, "--output", "json")...)
	var doc review.Document
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, js.stdout)
	}
	got := map[string]review.DocTrust{}
	for _, n := range doc.Nodes {
		if n.Trust == nil {
			t.Fatalf("node %s has no trust verdict:\n%s", n.Node, js.stdout)
		}
		got[n.Node] = *n.Trust
	}
	if !got["a-1"].Accepted || got["b-1"].Accepted || !strings.Contains(got["b-1"].Reason, "may not change a Mirror on node b-1") {
		t.Errorf("trust verdicts = %+v", got)
	}
	// Without keys to check signatures with, the policy cannot be used.
	runCmd(runPlan, "--repo", remote, "--head", "feature", "--trust-policy", policyFile).expect(t, exitFail, nil,
		[]string{"--trust-policy needs the daemons' keys"})
}
