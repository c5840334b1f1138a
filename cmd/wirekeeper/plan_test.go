package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// Specs of the plan tests: hv1 has the manager and mirror of runSpecs plus
// a mirror "old"; hv2 its own manager and mirror. The feature branch moves
// tap to tap1, removes old and adds new; hv2 does not change.
const (
	hv2Specs = `---
apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs2}
spec: {node: hv2, address: unix:/run/ovs.sock}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: m2}
spec: {manager: ovs2, bridge: br0, selectAll: true, output: {port: tap0}}
`
	oldMirror = `---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: old}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap5}}
`
	newMirror = `---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: new}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap7}}
`
	// badMirror has an empty output port, on line 4 of its document.
	badMirror = `---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: bad}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: ""}}
`
)

var (
	planBase    = runSpecs + oldMirror + hv2Specs
	planFeature = strings.Replace(runSpecs, "tap0", "tap1", 1) + newMirror + hv2Specs
)

// pushBranch commits content as ovs.yaml on top of main and pushes it as
// branch, leaving the work tree on main.
func pushBranch(t *testing.T, work, branch, content, msg string) string {
	t.Helper()
	gitCLI(t, work, "checkout", "-q", "-B", branch, "main")
	if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, work, "commit", "-q", "-a", "-m", msg)
	gitCLI(t, work, "push", "-q", "-f", "origin", "HEAD:"+branch)
	hash := gitCLI(t, work, "rev-parse", "HEAD")
	gitCLI(t, work, "checkout", "-q", "main")
	return hash
}

// writeStatus pushes ns to the status branch as a daemon would.
func writeStatus(t *testing.T, remote string, ns *reconciler.NodeStatus) {
	t.Helper()
	files, err := status.Render(ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := status.NewWriter(status.WriterOptions{URL: remote, CacheDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(context.Background(), ns.Node, files, "status of "+ns.Node); err != nil {
		t.Fatal(err)
	}
}

// hv1Drifted is hv1 at revision base: tap drifted, the rest ready.
func hv1Drifted(base string) *reconciler.NodeStatus {
	when := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	return &reconciler.NodeStatus{
		Node: "hv1", Branch: "main", AppliedRevision: base,
		Objects: []reconciler.ObjectStatus{
			{Kind: "OVSManager", Name: "ovs1", Phase: reconciler.PhaseReady, Revision: base},
			{Kind: "Mirror", Name: "old", Phase: reconciler.PhaseReady, Revision: base},
			{Kind: "Mirror", Name: "tap", Phase: reconciler.PhaseDrifted, Revision: base,
				Message: `live differs: spec.output.port is "eth9", want "tap0"`,
				LastDrift: &reconciler.DriftEvent{Time: when, Kind: "Mirror", Name: "tap", Revision: base, Policy: "observe",
					Diff: []reconciler.FieldDiff{{Path: "spec.output.port", From: "tap0", To: "eth9"}}}},
		},
	}
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

func runCmd(run func([]string, io.Writer, io.Writer) int, args ...string) cmdResult {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return cmdResult{code, stdout.String(), stderr.String()}
}

func (r cmdResult) expect(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range stdout {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range stderr {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
}

func TestPlan(t *testing.T) {
	remote, work := newSpecRepo(t)
	base := pushSpecs(t, work, planBase, "base")
	feature := pushBranch(t, work, "feature", planFeature, "move tap, replace old by new")
	pushBranch(t, work, "broken", planFeature+badMirror, "add a bad mirror")
	onlyManager, _, _ := strings.Cut(runSpecs, "---")
	pushBranch(t, work, "prune", onlyManager+hv2Specs, "drop the mirrors of hv1")
	cache := t.TempDir()
	plan := func(args ...string) cmdResult {
		return runCmd(runPlan, append([]string{"--repo", remote, "--cache-dir", cache}, args...)...)
	}
	tapRow := "| ✏️ update | `Mirror/tap` | `spec.output.port: \"tap0\" → \"tap1\"` | "

	// Before any daemon pushed a status.
	plan("--head", "feature").expect(t, exitChanges, []string{
		review.CommentMarker,
		"- **hv1**: 1 to create, 1 to update, 1 to delete, 1 unchanged\n",
		tapRow + "no status recorded |",
		"No status recorded for this node on `wirekeeper/status`.",
	}, []string{"changes 1 of 2 node(s)"})

	writeStatus(t, remote, hv1Drifted(base))
	md := plan("--head", "feature")
	md.expect(t, exitChanges, []string{
		"## wirekeeper plan: merging `feature` into `main`",
		"Head `feature` at `" + feature[:7] + "` (move tap, replace old by new) against base `main` at `" + base[:7] + "`.",
		"- **hv1**: 1 to create, 1 to update, 1 to delete, 1 unchanged\n",
		"- **hv2**: no changes, 2 unchanged\n",
		"Last recorded status: the node enforces `" + base[:7] + "`, the base head — 2 ready, 1 drifted.",
		tapRow + "⚠ Drifted: live differs: spec.output.port is \"eth9\", want \"tap0\"<br>last drift 2024-05-01 10:00:00Z: spec.output.port — reported (policy observe) |",
		"| ➕ create | `Mirror/new` | added (6 fields) | not on the node yet |",
		"| ➖ delete | `Mirror/old` | removed from the spec | ✓ Ready |",
		"```diff\n@@ create Mirror/new @@\n",
		"+ spec.output.port: \"tap7\"\n",
	}, nil)
	if strings.Contains(md.stdout, "### hv2") {
		t.Errorf("hv2 has no changes but a section:\n%s", md.stdout)
	}

	js := plan("--head", "feature", "--output", "json")
	js.expect(t, exitChanges, nil, nil)
	var doc review.Document
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, js.stdout)
	}
	if doc.Base.Revision != base || doc.Head.Revision != feature || !doc.Valid || !doc.HasChanges || doc.StatusBranch != "wirekeeper/status" {
		t.Errorf("document head: base %s head %s valid %v changes %v status branch %q",
			doc.Base.Revision, doc.Head.Revision, doc.Valid, doc.HasChanges, doc.StatusBranch)
	}
	var got []string
	for _, n := range doc.Nodes {
		for _, c := range n.Changes {
			live := "-"
			if c.Live != nil {
				live = string(c.Live.Phase)
			}
			got = append(got, n.Node+" "+string(c.Action)+" "+c.Kind+"/"+c.Name+" "+live)
		}
		got = append(got, n.Node+" unchanged "+strings.Repeat("x", n.Unchanged))
	}
	want := []string{
		"hv1 create Mirror/new -", "hv1 delete Mirror/old Ready", "hv1 update Mirror/tap Drifted", "hv1 unchanged x",
		"hv2 unchanged xx",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON changes (-want +got):\n%s", diff)
	}
	if s := doc.Nodes[0].Status; s == nil || s.AppliedRevision != base || !s.AtBase || doc.Nodes[1].Status != nil {
		t.Errorf("node statuses: hv1 %+v, hv2 %+v", s, doc.Nodes[1].Status)
	}
	if d := doc.Nodes[0].Changes[2].Diff; len(d) != 1 || d[0] != (reconciler.FieldDiff{Path: "spec.output.port", From: "tap0", To: "tap1"}) {
		t.Errorf("diff of tap = %+v", d)
	}

	t.Run("node filter", func(t *testing.T) {
		r := plan("--head", "feature", "--node", "hv2")
		r.expect(t, exitOK, []string{"- **hv2**: no changes, 2 unchanged", "**No changes**"}, []string{"no changes"})
		if strings.Contains(r.stdout, "hv1") {
			t.Errorf("--node hv2 shows hv1:\n%s", r.stdout)
		}
		r = plan("--head", "feature", "--node", "hv1", "--output", "json")
		r.expect(t, exitChanges, []string{`"node": "hv1"`}, nil)
		if strings.Contains(r.stdout, "hv2") {
			t.Errorf("--node hv1 shows hv2:\n%s", r.stdout)
		}
		plan("--head", "feature", "--node", "hv9").expect(t, exitOK, []string{"node hv9 has no objects in either revision"}, nil)
	})
	t.Run("head equals base", func(t *testing.T) {
		plan("--head", "main").expect(t, exitOK,
			[]string{"**No changes**: merging would change nothing on any node.", "- **hv1**: no changes, 3 unchanged"},
			[]string{"no changes"})
		plan("--head", base[:10]).expect(t, exitOK, []string{"**No changes**"}, nil)
	})
	t.Run("invalid head", func(t *testing.T) {
		line := strings.Count(planFeature, "\n") + 5 // the spec: line of badMirror
		pos := fmt.Sprintf("ovs.yaml:%d:68: error: Mirror/bad: spec.output.port: must not be empty", line)
		plan("--head", "broken").expect(t, exitFail,
			[]string{"is invalid: the daemons would refuse it**", "```text\n" + pos + "\n```"},
			[]string{pos, "broken", "is invalid: 1 error(s); the daemons would refuse it"})
		r := plan("--head", "broken", "--output", "json")
		r.expect(t, exitFail, []string{`"valid": false`, `"file": "ovs.yaml"`, fmt.Sprintf(`"line": %d`, line)}, []string{pos})
	})
	t.Run("invalid base", func(t *testing.T) {
		plan("--base", "broken", "--head", "feature").expect(t, exitChanges,
			[]string{"is invalid** (1 error), so this plan starts from an empty base", "- **hv1**: 3 to create, 0 unchanged"}, nil)
	})
	t.Run("prune guard", func(t *testing.T) {
		guard := "removes 2 of the node's 3 objects, more than the prune guard allows (50%)"
		plan("--head", "prune").expect(t, exitChanges,
			[]string{"> ⚠ **Prune guard**: this revision " + guard},
			[]string{"wirekeeper plan: warning: hv1: " + guard})
		if r := plan("--head", "prune", "--max-prune-fraction", "1"); strings.Contains(r.stdout+r.stderr, "prune guard") {
			t.Errorf("prune guard with --max-prune-fraction 1:\n%s%s", r.stdout, r.stderr)
		}
	})
	t.Run("missing spec folder", func(t *testing.T) {
		plan("--head", "feature", "--path", "specs").expect(t, exitFail,
			[]string{`spec folder "specs" does not exist in commit ` + feature[:7]}, nil)
	})
	t.Run("missing branch", func(t *testing.T) {
		plan("--head", "nope").expect(t, exitFail, nil, []string{`wirekeeper plan: cannot fetch "nope"`, "branch not found"})
	})
	t.Run("other status branch and refs", func(t *testing.T) {
		plan("--head", "feature", "--status-branch", "ops/status", "--status-ref-prefix", "refs/ops/nodes/").expect(t, exitChanges,
			[]string{tapRow + "no status recorded |", "on `ops/status`"}, nil)
	})
}

// TestPlanTemporaryCache checks that without --cache-dir the clones go to
// a temporary directory that is removed.
func TestPlanTemporaryCache(t *testing.T) {
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, planBase, "base")
	pushBranch(t, work, "feature", planFeature, "change")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	runCmd(runPlan, "--repo", remote, "--head", "feature").expect(t, exitChanges, []string{"1 to create"}, nil)
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

func TestPlanUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--head", "feature"}, exitFail, "--repo is required"},
		{[]string{"--repo", "git://h/r"}, exitFail, "--head is required"},
		{[]string{"--repo", "git://h/r", "--head", "f", "--output", "xml"}, exitFail, `unknown --output "xml"; valid: markdown, json`},
		{[]string{"--repo", "git://h/r", "--head", "f", "--max-prune-fraction", "2"}, exitFail, "--max-prune-fraction must be a number from 0 to 1"},
		{[]string{"--repo", "git://h/r", "--head", "f", "--node", "a/b"}, exitFail, `--node "a/b"`},
		{[]string{"--repo", "git://h/r", "--head", "f", "--path", "../x"}, exitFail, `--path "../x": leaves the repository`},
		{[]string{"--repo", "https://u:pw@h/r", "--head", "f"}, exitFail, "holds a password"},
		{[]string{"--repo", "git://h/r", "--head", "f", "extra"}, exitFail, `unexpected argument "extra"`},
		{[]string{"--bogus"}, exitFail, "flag provided but not defined: -bogus"},
		{[]string{"-h"}, exitOK, "Exit status: 0 no changes, 2 changes, 1 the head is invalid"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCmd(runPlan, tt.args...)
			r.expect(t, tt.code, nil, []string{tt.want})
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}
