package review_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/spec"
)

// decode renders r as JSON and reads it back, as a script would.
func decode(t *testing.T, r *review.Report) (review.Document, map[string]any) {
	t.Helper()
	data, err := review.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc review.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("JSON does not decode: %v\n%s", err, data)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

func TestJSONAnnotatedPlan(t *testing.T) {
	r := newReport(t, baseSpecs, headSpecs, map[string]*reconciler.NodeStatus{"hv1": hv1Status()})
	doc, raw := decode(t, r)
	ns := hv1Status()
	want := review.Document{
		Repo:         "git://example.invalid/specs",
		Base:         review.DocRevision{Ref: "main", Revision: baseHash, Message: "base", Time: at("2024-05-01T09:00:00Z"), Valid: true},
		Head:         review.DocRevision{Ref: "feature", Revision: headHash, Message: "Move the tap | add new\n\nbody", Time: at("2024-05-01T11:00:00Z"), Valid: true},
		Path:         "specs",
		Valid:        true,
		Diagnostics:  spec.Diagnostics{},
		HasChanges:   true,
		Warnings:     []string{},
		StatusBranch: "wirekeeper/status",
		Nodes: []review.DocNode{{
			Node: "hv1", Create: 1, Update: 1, Delete: 1, Unchanged: 2,
			Changes: []review.DocChange{
				{Kind: "Mirror", Name: "new", Action: reconciler.ActionCreate, Reason: "added", Diff: []reconciler.FieldDiff{
					{Path: "spec.bridge", To: "br0"}, {Path: "spec.manager", To: "ovs1"}, {Path: "spec.mirrorName", To: "new"},
					{Path: "spec.output.port", To: "tap7"}, {Path: "spec.policy", To: "enforce"}, {Path: "spec.selectAll", To: true},
				}},
				{Kind: "Mirror", Name: "old", Action: reconciler.ActionDelete, Reason: "removed from the spec", Diff: []reconciler.FieldDiff{
					{Path: "spec.bridge", From: "br0"}, {Path: "spec.manager", From: "ovs1"}, {Path: "spec.mirrorName", From: "old"},
					{Path: "spec.output.port", From: "tap5"}, {Path: "spec.policy", From: "enforce"}, {Path: "spec.selectAll", From: true},
				}, Live: &review.DocLive{Phase: reconciler.PhaseDegraded, Revision: baseHash, Message: ns.Objects[2].Message}},
				{Kind: "Mirror", Name: "tap", Action: reconciler.ActionUpdate, Reason: "1 field changed",
					Diff: []reconciler.FieldDiff{{Path: "spec.output.port", From: "tap0", To: "tap1"}},
					Live: &review.DocLive{Phase: reconciler.PhaseDrifted, Revision: baseHash, Message: ns.Objects[3].Message, LastDrift: ns.Objects[3].LastDrift}},
			},
			Status: &review.DocStatus{
				AppliedRevision: baseHash, AtBase: true,
				Counts: map[reconciler.Phase]int{reconciler.PhaseReady: 2, reconciler.PhaseDrifted: 1, reconciler.PhaseDegraded: 1},
			},
		}},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
	// Absent values are explicit nulls, lists are never null.
	node := raw["nodes"].([]any)[0].(map[string]any)
	create := node["changes"].([]any)[0].(map[string]any)
	if v, ok := create["live"]; !ok || v != nil {
		t.Errorf(`create "live" = %v (present %v), want null`, v, ok)
	}
	if d := create["diff"].([]any)[0].(map[string]any); d["from"] != nil || d["to"] != "br0" {
		t.Errorf("first diff of the create = %v", d)
	}
	if _, ok := raw["base"].(map[string]any)["diagnostics"]; ok {
		t.Error("a valid base has a diagnostics key")
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name       string
		base, head string
		status     map[string]*reconciler.NodeStatus
		check      func(t *testing.T, doc review.Document, raw map[string]any)
	}{
		{
			name: "invalid head",
			base: baseSpecs, head: headSpecs + mirror("bad", `""`),
			check: func(t *testing.T, doc review.Document, raw map[string]any) {
				want := spec.Diagnostics{{
					Position: spec.Position{File: "specs/ovs.yaml", Line: 24, Column: 68}, Severity: spec.SeverityError,
					Kind: "Mirror", Name: "bad", Field: "spec.output.port", Message: "must not be empty",
				}}
				if diff := cmp.Diff(want, doc.Diagnostics); diff != "" {
					t.Errorf("diagnostics (-want +got):\n%s", diff)
				}
				if doc.Valid || doc.Head.Valid || doc.HasChanges || len(doc.Nodes) != 0 {
					t.Errorf("valid %v, head valid %v, changes %v, nodes %d", doc.Valid, doc.Head.Valid, doc.HasChanges, len(doc.Nodes))
				}
				if nodes, ok := raw["nodes"].([]any); !ok || len(nodes) != 0 {
					t.Errorf(`"nodes" = %#v, want []`, raw["nodes"])
				}
			},
		},
		{
			name: "invalid base",
			base: baseSpecs + mirror("bad", `""`), head: headSpecs,
			check: func(t *testing.T, doc review.Document, _ map[string]any) {
				if doc.Base.Valid || len(doc.Base.Diagnostics) != 1 || !doc.Valid {
					t.Errorf("base %+v, valid %v", doc.Base, doc.Valid)
				}
				if n := doc.Nodes[0]; n.Create != 4 || n.Status != nil {
					t.Errorf("node %+v: want 4 creates and no status", n)
				}
			},
		},
		{
			name: "prune guard, node behind with a refused revision",
			base: baseSpecs, head: manager,
			status: map[string]*reconciler.NodeStatus{"hv1": {
				Node: "hv1", AppliedRevision: "3333333cccccccccccccccccccccccccccccccc",
				Refused: &reconciler.RefusedRevision{Revision: baseHash, Reason: "PruneGuard", Message: "removes too much", Since: at("2024-05-01T08:00:00Z")},
			}},
			check: func(t *testing.T, doc review.Document, _ map[string]any) {
				n := doc.Nodes[0]
				if !strings.Contains(n.PruneGuard, "removes 3 of the node's 4 objects") {
					t.Errorf("prune guard = %q", n.PruneGuard)
				}
				want := &review.DocStatus{
					AppliedRevision: "3333333cccccccccccccccccccccccccccccccc",
					Refused:         &reconciler.RefusedRevision{Revision: baseHash, Reason: "PruneGuard", Message: "removes too much", Since: at("2024-05-01T08:00:00Z")},
					Counts:          map[reconciler.Phase]int{},
				}
				if diff := cmp.Diff(want, n.Status, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "no changes",
			base: baseSpecs, head: baseSpecs,
			check: func(t *testing.T, doc review.Document, raw map[string]any) {
				if doc.HasChanges || doc.Nodes[0].Unchanged != 4 {
					t.Errorf("changes %v, node %+v", doc.HasChanges, doc.Nodes[0])
				}
				if ch, ok := raw["nodes"].([]any)[0].(map[string]any)["changes"].([]any); !ok || len(ch) != 0 {
					t.Errorf(`"changes" = %#v, want []`, ch)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, raw := decode(t, newReport(t, tt.base, tt.head, tt.status))
			tt.check(t, doc, raw)
		})
	}
}
