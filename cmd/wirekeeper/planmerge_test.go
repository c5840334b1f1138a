package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
)

// laterMirror is what main gains after feature forked.
const laterMirror = `---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: later}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap8}}
`

// A branch behind its base shows only its own changes: what the base
// gained since the branch forked (from the root commit here) is neither
// reverted nor shown; the plan says how far behind the branch is.
func TestPlanBranchBehindBase(t *testing.T) {
	remote, work := newSpecRepo(t)
	root := pushSpecs(t, work, planBase, "base")
	pushBranch(t, work, "feature", planFeature, "move tap, replace old by new")
	pushSpecs(t, work, planBase+laterMirror, "add mirror later")
	pushSpecs(t, work, planBase+laterMirror+"# a comment\n", "comment")
	plan := func(args ...string) cmdResult {
		return runCmd(runPlan, append([]string{"--repo", remote, "--cache-dir", t.TempDir()}, args...)...)
	}
	md := plan("--head", "feature")
	md.expect(t, exitChanges, []string{
		"> ℹ `feature` is 2 commits behind `main`. This plan shows what merging it would change, object by object from their merge base `" + root[:7] + "`",
		"- **hv1**: 1 to create, 1 to update, 1 to delete, 2 unchanged\n",
		"| ➖ delete | `Mirror/old` |",
	}, nil)
	if strings.Contains(md.stdout, "Mirror/later") {
		t.Errorf("the plan shows Mirror/later, which main added after feature forked:\n%s", md.stdout)
	}
	js := plan("--head", "feature", "--output", "json")
	var doc review.Document
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, js.stdout)
	}
	if doc.Merge == nil || doc.Merge.MergeBase != root || doc.Merge.Behind != 2 || !doc.Merge.Mergeable || len(doc.Merge.Conflicts) != 0 {
		t.Errorf("JSON merge = %+v, want merge base %s, 2 behind, mergeable", doc.Merge, root)
	}
}

// Both sides changed the same object differently: a conflict, exit 1.
func TestPlanConflict(t *testing.T) {
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, planBase, "base")
	pushBranch(t, work, "feature", planFeature, "move tap to tap1")
	pushSpecs(t, work, strings.Replace(planBase, "tap0", "tap2", 1), "move tap to tap2")
	res := runCmd(runPlan, "--repo", remote, "--cache-dir", t.TempDir(), "--head", "feature")
	res.expect(t, exitFail, []string{
		"> ✗ **1 conflict**: both branches changed this object differently since the merge base.",
		"| `Mirror/tap` | changed | changed |",
	}, []string{
		"wirekeeper plan: conflict: Mirror/tap: changed on main, changed on feature since the merge base",
		"1 conflict(s), 0 error(s)",
	})
}

// Two valid sides can merge into specs the daemons would refuse: base
// removed the manager a mirror of the branch needs.
func TestPlanInvalidMerge(t *testing.T) {
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, planBase, "base")
	pushBranch(t, work, "feature", planBase+newMirror, "add mirror new on ovs1")
	pushSpecs(t, work, hv2Specs, "hv1 leaves the fleet")
	res := runCmd(runPlan, "--repo", remote, "--cache-dir", t.TempDir(), "--head", "feature")
	res.expect(t, exitFail, []string{"> ✗ **The merge would be invalid: the daemons would refuse it.**", "ovs1"},
		[]string{"0 conflict(s), 1 error(s)"})
}

// Criss-cross merges give two merge bases; the plan uses the newest and
// says so.
func TestPlanCrissCross(t *testing.T) {
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, planBase, "base")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitCLI(t, work, "checkout", "-q", "-b", "feature")
	write("new.yaml", newMirror)
	gitCLI(t, work, "add", "-A")
	gitCLI(t, work, "commit", "-q", "-m", "feature: add new")
	featureTip := gitCLI(t, work, "rev-parse", "HEAD")
	gitCLI(t, work, "checkout", "-q", "main")
	write("later.yaml", laterMirror)
	gitCLI(t, work, "add", "-A")
	gitCLI(t, work, "commit", "-q", "-m", "main: add later")
	mainTip := gitCLI(t, work, "rev-parse", "HEAD")
	gitCLI(t, work, "merge", "-q", "--no-ff", "-m", "merge feature into main", "feature")
	gitCLI(t, work, "checkout", "-q", "feature")
	gitCLI(t, work, "merge", "-q", "--no-ff", "-m", "merge main's later into feature", mainTip)
	write("ovs.yaml", strings.Replace(runSpecs, "tap0", "tap1", 1)+hv2Specs)
	gitCLI(t, work, "commit", "-q", "-am", "feature: move tap, drop old, add new")
	gitCLI(t, work, "push", "-q", "origin", "feature", "main")
	gitCLI(t, work, "checkout", "-q", "main")

	js := runCmd(runPlan, "--repo", remote, "--cache-dir", t.TempDir(), "--head", "feature", "--output", "json")
	var doc review.Document
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, js.stdout)
	}
	// The two merge bases are the two forks' first commits; the newest by
	// committer time is used, the smaller hash on a tie.
	newest, other := mainTip, featureTip
	tm, tf := gitCLI(t, work, "log", "-1", "--format=%ct", mainTip), gitCLI(t, work, "log", "-1", "--format=%ct", featureTip)
	if tf > tm || tf == tm && featureTip < mainTip {
		newest, other = featureTip, mainTip
	}
	if doc.Merge == nil || doc.Merge.MergeBase != newest || len(doc.Merge.OtherMergeBases) != 1 || doc.Merge.OtherMergeBases[0] != other || !doc.Merge.Mergeable {
		t.Fatalf("JSON merge = %+v, want merge base %s (then %s), mergeable\n%s", doc.Merge, newest, other, js.stderr)
	}
	var hv1 *review.DocNode
	for i := range doc.Nodes {
		if doc.Nodes[i].Node == "hv1" {
			hv1 = &doc.Nodes[i]
		}
	}
	got := map[string]reconciler.Action{}
	for _, c := range hv1.Changes {
		got[c.Name] = c.Action
	}
	// Only the feature's last commit changes anything: new and later are on
	// both sides already.
	if len(got) != 2 || got["tap"] != reconciler.ActionUpdate || got["old"] != reconciler.ActionDelete {
		t.Errorf("hv1 changes = %v, want tap updated and old deleted only", got)
	}
	md := runCmd(runPlan, "--repo", remote, "--cache-dir", t.TempDir(), "--head", "feature")
	md.expect(t, exitChanges, []string{"> ℹ The history has 1 other merge base (criss-cross merges); this plan used the newest"}, nil)
}

// BenchmarkPlanBehind100 plans a branch changing 10 of 1,000 objects (100
// nodes, a manager and 9 mirrors each) that is 100 commits behind its
// base, each of those changing another object; the cache is warm, as in a
// CI job that keeps it. Target: under 1 s per plan.
func BenchmarkPlanBehind100(b *testing.B) {
	remote, work := testenv.NewGitRemote(b), b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	testenv.Git(b, work, "remote", "add", "origin", remote)
	nodeFile := func(n int, port func(m int) string) {
		var f strings.Builder
		fmt.Fprintf(&f, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs%d}\nspec: {node: hv%d, address: unix:/run/ovs.sock}\n", n, n)
		for m := range 9 {
			fmt.Fprintf(&f, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: m%d-%d}\nspec: {manager: ovs%d, bridge: br0, selectAll: true, output: {port: %s}}\n", n, m, n, port(m))
		}
		if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("hv%03d.yaml", n)), []byte(f.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	tap0 := func(int) string { return "tap0" }
	for n := range 100 {
		nodeFile(n, tap0)
	}
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "1,000 objects")
	testenv.Git(b, work, "checkout", "-q", "-b", "feature")
	for n := range 10 {
		nodeFile(n, func(m int) string {
			if m == 0 {
				return "tap1"
			}
			return "tap0"
		})
	}
	testenv.Git(b, work, "commit", "-q", "-am", "feature: 10 mirrors to tap1")
	testenv.Git(b, work, "checkout", "-q", "main")
	for c := range 100 {
		n := 10 + c%90
		nodeFile(n, func(int) string { return fmt.Sprintf("tap%d", 100+c) })
		testenv.Git(b, work, "commit", "-q", "-am", fmt.Sprintf("main: node %d to tap%d", n, 100+c))
	}
	testenv.Git(b, work, "push", "-q", "origin", "main", "feature")
	cache := b.TempDir()
	b.ResetTimer()
	for range b.N {
		res := runCmd(runPlan, "--repo", remote, "--cache-dir", cache, "--head", "feature", "--output", "json")
		if res.code != exitChanges || !strings.Contains(res.stdout, `"behind": 100`) {
			b.Fatalf("exit %d, want %d and 100 behind\n%s\n%s", res.code, exitChanges, res.stderr, res.stdout[:min(len(res.stdout), 2000)])
		}
	}
}
