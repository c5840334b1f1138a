package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
)

func TestStatus(t *testing.T) {
	remote, work := newSpecRepo(t)
	// Commit dates decide silence: base was committed 10 minutes ago.
	t.Setenv("GIT_COMMITTER_DATE", time.Now().Add(-10*time.Minute).Format(time.RFC3339))
	base := pushSpecs(t, work, planBase, "base")
	cache := t.TempDir()
	statusCmd := func(args ...string) cmdResult {
		return runCmd(runStatus, append([]string{"--repo", remote, "--cache-dir", cache}, args...)...)
	}

	// No daemon has pushed yet: neither node refs nor a status branch.
	statusCmd().expect(t, exitFail, nil, []string{"no status in branch wirekeeper/status or refs/wirekeeper/status/* of " + remote + ": neither exists"})

	hv1 := hv1Drifted(base)
	hv1.Reported = time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	writeStatus(t, remote, hv1)
	writeStatus(t, remote, &reconciler.NodeStatus{
		Node: "hv2", Branch: "main", Reported: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC),
		Refused: &reconciler.RefusedRevision{Revision: base, Reason: "Invalid", Message: "1 error", Since: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)},
		Objects: []reconciler.ObjectStatus{{Kind: "Mirror", Name: "m2", Phase: reconciler.PhasePending, Message: "waiting for\nOVSManager/ovs2"}},
	})

	// Without --node: the summary, nodes compared with the head of main.
	// Both answered it: hv1 applied it, hv2 refused it.
	r := statusCmd()
	r.expect(t, exitOK, nil, nil)
	want := []string{
		"2 nodes: 1 drifted, 1 pending",
		"4 objects: 1 drifted, 1 pending, 2 ready",
		"newest revision " + base[:7] + " (branch main): 1 of 2 nodes on it, 1 behind",
		"silent: 0 nodes with no answer to the newest revision within 1m30s of its commit",
		"",
		"2 problem nodes, most severe first:",
		"NODE  PHASE    APPLIED  LAST REPORT           PROBLEMS",
		"hv1   Drifted  " + base[:7] + "  " + reconciler.HumanTime(hv1.Reported) + "  not ready: Mirror/tap Drifted",
		"hv2   Pending  -        2024-05-01 09:00:00Z  not ready: Mirror/m2 Pending; behind: refused (Invalid)",
		"",
	}
	if diff := cmp.Diff(want, strings.Split(r.stdout, "\n")); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	// A newer head, committed 4 minutes ago, after both last reported:
	// neither answered it, so both are silent past 3 intervals of 30 s.
	t.Setenv("GIT_COMMITTER_DATE", time.Now().Add(-4*time.Minute).Format(time.RFC3339))
	next := pushSpecs(t, work, planBase+"\n# next\n", "next")
	r = statusCmd()
	r.expect(t, exitOK, []string{
		"newest revision " + next[:7] + " (branch main): 0 of 2 nodes on it, 2 behind\nsilent: 2 nodes with no answer to the newest revision within 1m30s of its commit\n",
		"hv1   Drifted  " + base[:7] + "  " + reconciler.HumanTime(hv1.Reported) + "  not ready: Mirror/tap Drifted; silent\n",
		"hv2   Pending  -        2024-05-01 09:00:00Z  not ready: Mirror/m2 Pending; silent\n",
	}, nil)
	// --interval sets the silence threshold: at 24h neither is silent yet,
	// both are behind.
	r = statusCmd("--interval", "24h")
	r.expect(t, exitOK, []string{
		"newest revision " + next[:7] + " (branch main): 0 of 2 nodes on it, 2 behind\nsilent: 0 nodes with no answer to the newest revision within 72h0m0s of its commit\n",
		"hv1   Drifted  " + base[:7] + "  " + reconciler.HumanTime(hv1.Reported) + "  not ready: Mirror/tap Drifted; behind\n",
	}, nil)
	// A branch that cannot be read leaves the nodes uncompared, with a warning.
	r = statusCmd("--branch", "nope")
	r.expect(t, exitOK, []string{"newest revision: unknown, nodes not compared with it\n"}, []string{"warning: cannot read the head of branch nope"})

	// --node keeps the per-node view.
	r = statusCmd("--node", "hv1")
	r.expect(t, exitOK, nil, nil)
	want = []string{
		"hv1  applied " + base[:7] + "  (branch main)  2 ready, 1 drifted",
		"KIND        NAME  PHASE    REVISION  MESSAGE",
		"OVSManager  ovs1  Ready    " + base[:7] + "   -",
		"Mirror      old   Ready    " + base[:7] + "   -",
		"Mirror      tap   Drifted  " + base[:7] + `   live differs: spec.output.port is "eth9", want "tap0"`,
		"",
	}
	if diff := cmp.Diff(want, strings.Split(r.stdout, "\n")); diff != "" {
		t.Errorf("status --node hv1 (-want +got):\n%s", diff)
	}

	r = statusCmd("--node", "hv2")
	r.expect(t, exitOK, []string{"hv2  no revision applied yet"}, nil)
	if strings.Contains(r.stdout, "hv1") {
		t.Errorf("--node hv2 shows hv1:\n%s", r.stdout)
	}

	r = statusCmd("--output", "json")
	r.expect(t, exitOK, nil, nil)
	var doc review.StatusDocument
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, r.stdout)
	}
	if len(doc.Nodes) != 2 || doc.StatusBranch != "wirekeeper/status" || doc.Nodes[0].AppliedRevision != base || doc.Nodes[1].AppliedRevision != "" ||
		!doc.Nodes[0].Reported.Equal(hv1.Reported) ||
		doc.Nodes[0].Object(reconciler.Ref{Kind: "Mirror", Name: "tap"}).Phase != reconciler.PhaseDrifted || doc.Nodes[1].Refused == nil {
		t.Errorf("JSON document: %s", r.stdout)
	}

	statusCmd("--node", "hv9").expect(t, exitFail, nil, []string{"no status recorded for node hv9 in branch wirekeeper/status or refs/wirekeeper/status/* of " + remote})
	statusCmd("--status-branch", "ops/status", "--status-ref-prefix", "refs/ops/nodes/").expect(t, exitFail, nil,
		[]string{"no status in branch ops/status or refs/ops/nodes/* of " + remote})

	// Daemons with --status-repo: the status is read from there.
	statusRemote, _ := newSpecRepo(t)
	writeStatus(t, statusRemote, &reconciler.NodeStatus{Node: "hv3", Branch: "main", AppliedRevision: base})
	r = statusCmd("--status-repo", statusRemote, "--output", "json")
	r.expect(t, exitOK, nil, nil)
	doc = review.StatusDocument{}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Nodes) != 1 || doc.Nodes[0].Node != "hv3" {
		t.Errorf("status --status-repo: %v\n%s", err, r.stdout)
	}
}

func TestStatusUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "--repo is required"},
		{[]string{"--repo", "git://h/r", "--output", "yaml"}, exitUsage, `unknown --output "yaml"; valid: text, json`},
		{[]string{"--repo", "git://h/r", "--status-branch", "a..b"}, exitUsage, "--status-branch: not a branch name"},
		{[]string{"--repo", "git://h/r", "--node", "-x"}, exitUsage, `--node "-x"`},
		{[]string{"--repo", "git://h/r", "--branch", "a..b"}, exitUsage, "--branch: not a branch name"},
		{[]string{"--repo", "git://h/r", "--interval", "0s"}, exitUsage, "--interval 0s: want a positive duration"},
		{[]string{"-h"}, exitOK, "Exit status: 0 status printed"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			runCmd(runStatus, tt.args...).expect(t, tt.code, nil, []string{tt.want})
		})
	}
}
