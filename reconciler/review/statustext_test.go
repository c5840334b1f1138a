package review_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/spec"
)

func TestStatusText(t *testing.T) {
	hv1 := hv1Status()
	// Out of order on purpose: the table sorts by kind rank, then name.
	hv1.Objects[0], hv1.Objects[3] = hv1.Objects[3], hv1.Objects[0]
	hv2 := &reconciler.NodeStatus{
		Node: "hv2", Branch: "main", Path: "specs",
		Refused: &reconciler.RefusedRevision{Revision: headHash, Reason: "Invalid", Message: "1 error\nin the specs", Since: at("2024-05-01T08:00:00Z"),
			Diagnostics: spec.Diagnostics{{Position: spec.Position{File: "specs/ovs.yaml", Line: 3, Column: 7}, Severity: spec.SeverityError, Message: "bad"}}},
		Source: &reconciler.SourceProblem{Reason: "Unreachable", Message: "connection refused", Since: at("2024-05-01T08:30:00Z")},
	}
	var out bytes.Buffer
	if err := review.StatusText(&out, []*reconciler.NodeStatus{hv1, hv2}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"hv1  applied 1111111  (branch main)  2 ready, 1 drifted, 1 degraded",
		"KIND        NAME  PHASE     REVISION  MESSAGE",
		"OVSManager  ovs1  Ready     1111111   -",
		"Mirror      keep  Ready     1111111   -",
		`Mirror      old   Degraded  1111111   a live Mirror named "old" exists that wirekeeper did not create | left alone remove it`,
		`Mirror      tap   Drifted   1111111   live differs: spec.output.port is "eth9", want "tap0"`,
		"",
		"hv2  no revision applied yet  (branch main:specs)  no objects",
		"  refused 2222222 (Invalid) since 2024-05-01 08:00:00Z: 1 error in the specs",
		"    specs/ovs.yaml:3:7: error: bad",
		"  source problem (Unreachable) since 2024-05-01 08:30:00Z: connection refused",
		"  no objects",
		"",
	}
	if diff := cmp.Diff(want, lines(out.String())); diff != "" {
		t.Errorf("StatusText (-want +got):\n%s", diff)
	}
}

func TestStatusJSON(t *testing.T) {
	var out bytes.Buffer
	if err := review.StatusJSON(&out, "wirekeeper/status", []*reconciler.NodeStatus{hv1Status()}); err != nil {
		t.Fatal(err)
	}
	var got review.StatusDocument
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := review.StatusDocument{StatusBranch: "wirekeeper/status", Nodes: []*reconciler.NodeStatus{hv1Status()}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StatusJSON (-want +got):\n%s", diff)
	}
	out.Reset()
	if err := review.StatusJSON(&out, "b", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "{\n  \"statusBranch\": \"b\",\n  \"nodes\": []\n}\n"; got != want {
		t.Errorf("no nodes: %q, want %q", got, want)
	}
}

// A refusal lists at most 50 diagnostics and counts the rest, with those
// the status file already left out.
func TestStatusTextBoundsDiagnostics(t *testing.T) {
	ds := make(spec.Diagnostics, 60)
	for i := range ds {
		ds[i] = spec.Diagnostic{Position: spec.Position{File: "m.yaml", Line: i + 1, Column: 1}, Severity: spec.SeverityError, Message: "bad"}
	}
	ns := &reconciler.NodeStatus{Node: "hv2", Branch: "main",
		Refused: &reconciler.RefusedRevision{Revision: headHash, Reason: "Invalid", Message: "160 errors", Since: at("2024-05-01T08:00:00Z"),
			Diagnostics: ds, DiagnosticsOmitted: 100}}
	var out bytes.Buffer
	if err := review.StatusText(&out, []*reconciler.NodeStatus{ns}); err != nil {
		t.Fatal(err)
	}
	got := lines(out.String())
	want := []string{"    m.yaml:50:1: error: bad", "    … and 110 more", "  no objects", ""}
	if len(got) != 55 || !cmp.Equal(got[51:], want) {
		t.Errorf("StatusText has %d lines, ending (-want +got):\n%s", len(got), cmp.Diff(want, got[max(0, len(got)-4):]))
	}
}
