package review_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
)

const newest = "3333333ccccccccccccccccccccccccccccccccc"

var summaryNow = at("2024-05-01T12:00:00Z")

func summaryCheck() reconciler.FleetCheck {
	return reconciler.FleetCheck{Now: summaryNow, SilentAfter: 90 * time.Second, NewestRevision: newest, NewestAt: summaryNow.Add(-10 * time.Minute), Branch: "main"}
}

func readyObjects(n int) []reconciler.ObjectStatus {
	out := make([]reconciler.ObjectStatus, n)
	for i := range out {
		out[i] = reconciler.ObjectStatus{Kind: "Mirror", Name: fmt.Sprintf("m%d", i), Phase: reconciler.PhaseReady}
	}
	return out
}

func TestStatusSummary(t *testing.T) {
	healthy := func(name string) *reconciler.NodeStatus {
		return &reconciler.NodeStatus{Node: name, Branch: "main", AppliedRevision: newest, Reported: summaryNow.Add(-time.Minute), Objects: readyObjects(3)}
	}
	drifted := healthy("hv-drifted")
	drifted.Objects[1].Phase = reconciler.PhaseDrifted
	failed := healthy("hv-failed")
	failed.Objects[0].Phase, failed.Objects[1].Phase, failed.Objects[2].Phase = reconciler.PhaseDrifted, reconciler.PhaseFailed, reconciler.PhasePending
	failed.Objects = append(failed.Objects, reconciler.ObjectStatus{Kind: "OVSManager", Name: "ovs", Phase: reconciler.PhaseFailed})
	silent := healthy("hv-silent")
	silent.Reported, silent.AppliedRevision = at("2024-05-01T11:00:00Z"), headHash
	refused := healthy("hv-refused")
	refused.AppliedRevision = headHash
	refused.Refused = &reconciler.RefusedRevision{Revision: newest, Reason: "Invalid"}
	fresh := &reconciler.NodeStatus{Node: "hv-fresh", Branch: "main", Reported: summaryNow}
	other := healthy("hv-other-branch")
	other.Branch, other.AppliedRevision = "prod", headHash

	var out bytes.Buffer
	nodes := []*reconciler.NodeStatus{healthy("hv-a"), silent, drifted, refused, failed, fresh, other, healthy("hv-b")}
	if err := review.StatusSummary(&out, nodes, summaryCheck()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"8 nodes: 1 failed, 1 drifted, 1 pending, 5 ready",
		"22 objects: 2 failed, 2 drifted, 1 pending, 17 ready",
		"newest revision 3333333 (branch main): 4 of 7 nodes on it, 3 behind, 1 on another branch",
		"silent: 1 node with no answer to the newest revision within 1m30s of its commit",
		"",
		"5 problem nodes, most severe first:",
		"NODE        PHASE    APPLIED  LAST REPORT           PROBLEMS",
		"hv-failed   Failed   3333333  2024-05-01 11:59:00Z  not ready: OVSManager/ovs Failed, Mirror/m1 Failed, … and 2 more",
		"hv-drifted  Drifted  3333333  2024-05-01 11:59:00Z  not ready: Mirror/m1 Drifted",
		"hv-fresh    Pending  -        2024-05-01 12:00:00Z  no objects yet; behind: no revision applied yet",
		"hv-silent   Ready    2222222  2024-05-01 11:00:00Z  silent",
		"hv-refused  Ready    2222222  2024-05-01 11:59:00Z  behind: refused (Invalid)",
		"",
	}
	if diff := cmp.Diff(want, lines(out.String())); diff != "" {
		t.Errorf("StatusSummary (-want +got):\n%s", diff)
	}

	out.Reset()
	if err := review.StatusSummary(&out, []*reconciler.NodeStatus{healthy("hv-a")}, reconciler.FleetCheck{}); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"1 node: 1 ready",
		"3 objects: 3 ready",
		"newest revision: unknown, nodes not compared with it",
		"silent: not checked",
		"",
		"no problem nodes",
		"",
	}
	if diff := cmp.Diff(want, lines(out.String())); diff != "" {
		t.Errorf("StatusSummary without check (-want +got):\n%s", diff)
	}
}

// thousandNodes is a fleet of 1,000 nodes where every 5th is Drifted,
// every 20th silent and every 7th behind: 400 problem nodes.
func thousandNodes() []*reconciler.NodeStatus {
	var nodes []*reconciler.NodeStatus
	for i := range 1000 {
		ns := &reconciler.NodeStatus{Node: fmt.Sprintf("node-%04d", i), Branch: "main", AppliedRevision: newest,
			Reported: summaryNow.Add(-time.Minute), Objects: readyObjects(10)}
		if i%5 == 0 {
			ns.Objects[3].Phase = reconciler.PhaseDrifted
		}
		if i%20 == 1 {
			ns.Reported, ns.AppliedRevision = summaryNow.Add(-time.Hour), fmt.Sprintf("%040d", i)
		}
		if i%7 == 2 {
			ns.AppliedRevision = fmt.Sprintf("%040d", i)
		}
		nodes = append(nodes, ns)
	}
	return nodes
}

// At 1,000 nodes the summary fits a terminal: counts, then at most
// SummaryMaxNodes problem nodes and a line for the rest.
func TestStatusSummaryThousandNodes(t *testing.T) {
	var out bytes.Buffer
	if err := review.StatusSummary(&out, thousandNodes(), summaryCheck()); err != nil {
		t.Fatal(err)
	}
	got := lines(strings.TrimSuffix(out.String(), "\n"))
	if len(got) >= 60 {
		t.Errorf("the summary of 1,000 nodes has %d lines:\n%s", len(got), out.String())
	}
	head := []string{
		"1000 nodes: 200 drifted, 800 ready",
		"10000 objects: 200 drifted, 9800 ready",
		"newest revision 3333333 (branch main): 814 of 1000 nodes on it, 186 behind",
		"silent: 50 nodes with no answer to the newest revision within 1m30s of its commit",
		"",
		// 200 drifted; 186 behind, of which 50 silent (i%20 == 1) and 143
		// on an older revision (i%7 == 2), 7 of them both (i%140 == 121);
		// 28 drifted and behind (i%35 == 30), none drifted and silent.
		fmt.Sprintf("%d problem nodes, most severe first (%d shown):", 200+186-28, review.SummaryMaxNodes),
		"NODE       PHASE    APPLIED  LAST REPORT           PROBLEMS",
	}
	if diff := cmp.Diff(head, got[:len(head)]); diff != "" {
		t.Errorf("summary head (-want +got):\n%s", diff)
	}
	if want := fmt.Sprintf("… and %d more: --node NAME shows one node, --output json every node", 358-review.SummaryMaxNodes); got[len(got)-1] != want {
		t.Errorf("last line %q, want %q", got[len(got)-1], want)
	}
	if rows := len(got) - len(head) - 1; rows != review.SummaryMaxNodes {
		t.Errorf("%d problem nodes listed, want %d", rows, review.SummaryMaxNodes)
	}
	// Drifted nodes come first, those also behind before the others.
	for i, want := range []string{
		"node-0030  Drifted  0000000  2024-05-01 11:59:00Z  not ready: Mirror/m3 Drifted; behind",
		"node-0065  Drifted  0000000  2024-05-01 11:59:00Z  not ready: Mirror/m3 Drifted; behind",
	} {
		if got[len(head)+i] != want {
			t.Errorf("problem node %d: %q, want %q", i, got[len(head)+i], want)
		}
	}
	for _, l := range got {
		if len(l) > 200 {
			t.Errorf("a line of %d characters: %q", len(l), l)
		}
	}
}

// The JSON form of the whole fleet keeps every node's applied revision.
func TestStatusJSONThousandNodes(t *testing.T) {
	nodes := thousandNodes()
	var out bytes.Buffer
	if err := review.StatusJSON(&out, "wirekeeper/status", nodes); err != nil {
		t.Fatal(err)
	}
	var doc review.StatusDocument
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Nodes) != len(nodes) {
		t.Fatalf("%d nodes in the JSON, want %d", len(doc.Nodes), len(nodes))
	}
	for i, ns := range doc.Nodes {
		if ns.Node != nodes[i].Node || ns.AppliedRevision != nodes[i].AppliedRevision || !ns.Reported.Equal(nodes[i].Reported) {
			t.Errorf("node %d: %s applied %s reported %s, want %s applied %s reported %s", i, ns.Node, ns.AppliedRevision, ns.Reported, nodes[i].Node, nodes[i].AppliedRevision, nodes[i].Reported)
		}
	}
}

// The 1,000-node example in docs/operators-guide.md is this fixture's
// summary (its revision hashes shortened to what a reader expects): the
// counts, the silence line, the problem count, the first row and the last
// line are what StatusSummary prints.
func TestDocsStatusSummaryExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operators-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := review.StatusSummary(&out, thousandNodes(), summaryCheck()); err != nil {
		t.Fatal(err)
	}
	got := strings.NewReplacer("3333333", "3f2a9c1", "0000000", "0dd0dd0").Replace(out.String())
	printed := lines(got)
	for _, want := range append(printed[:4], printed[5], printed[7], printed[len(printed)-2]) {
		if !strings.Contains(string(doc), "\n"+want+"\n") {
			t.Errorf("docs/operators-guide.md lacks the summary line %q", want)
		}
	}
}
