package review_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/spec"
)

const (
	baseHash = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	headHash = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// manager is the OVSManager of node hv1; mirror is a Mirror on its br0.
const manager = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: unix:/run/ovs.sock}
`

func mirror(name, port string) string {
	return "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: " + name +
		"}\nspec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: " + port + "}}\n"
}

// baseSpecs: keep, tap and old. headSpecs: tap moved to tap1, old removed,
// new added.
var (
	baseSpecs = manager + mirror("keep", "tap9") + mirror("tap", "tap0") + mirror("old", "tap5")
	headSpecs = manager + mirror("keep", "tap9") + mirror("tap", "tap1") + mirror("new", "tap7")
)

// load validates specs as the file specs/ovs.yaml.
func load(t testing.TB, specs string) (*spec.Set, spec.Diagnostics) {
	t.Helper()
	return spec.LoadFS(fstest.MapFS{"ovs.yaml": {Data: []byte(specs)}}, "specs")
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// hv1Status is hv1 at the base head: tap drifted, old degraded by an
// unowned object (with '|' and a newline in its message), keep ready.
func hv1Status() *reconciler.NodeStatus {
	return &reconciler.NodeStatus{
		Node: "hv1", Branch: "main", AppliedRevision: baseHash,
		Objects: []reconciler.ObjectStatus{
			{Kind: "OVSManager", Name: "ovs1", Phase: reconciler.PhaseReady, Revision: baseHash},
			{Kind: "Mirror", Name: "keep", Phase: reconciler.PhaseReady, Revision: baseHash},
			{Kind: "Mirror", Name: "old", Phase: reconciler.PhaseDegraded, Revision: baseHash,
				Message: "a live Mirror named \"old\" exists that wirekeeper did not create | left alone\nremove it"},
			{Kind: "Mirror", Name: "tap", Phase: reconciler.PhaseDrifted, Revision: baseHash,
				Message: `live differs: spec.output.port is "eth9", want "tap0"`,
				LastDrift: &reconciler.DriftEvent{
					Time: at("2024-05-01T10:00:00Z"), Kind: "Mirror", Name: "tap", Revision: baseHash,
					Diff: []reconciler.FieldDiff{{Path: "spec.output.port", From: "tap0", To: "eth9"}}, Policy: "observe",
				}},
		},
	}
}

// newReport plans base to head for every node, with the given status.
func newReport(t testing.TB, base, head string, status map[string]*reconciler.NodeStatus) *review.Report {
	t.Helper()
	r := &review.Report{
		Repo:         "git://example.invalid/specs",
		Path:         "specs",
		Base:         review.Revision{Ref: "main", Hash: baseHash, Message: "base", Time: at("2024-05-01T09:00:00Z")},
		Head:         review.Revision{Ref: "feature", Hash: headHash, Message: "Move the tap | add new\n\nbody", Time: at("2024-05-01T11:00:00Z")},
		StatusBranch: "wirekeeper/status",
		Status:       status,
	}
	var baseSet *spec.Set
	baseSet, r.Base.Diagnostics = load(t, base)
	if r.Base.Diagnostics.HasErrors() {
		baseSet = nil
	}
	headSet, diags := load(t, head)
	r.Head.Diagnostics = diags
	if !diags.HasErrors() {
		r.Nodes = reconciler.PlanRevisions(baseSet, headSet, nil, r.Head.Message, 0.5)
	}
	return r
}

// lines splits s for line-wise comparison.
func lines(s string) []string { return strings.Split(s, "\n") }
