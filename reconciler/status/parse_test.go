package status

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

func TestParseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ns   *reconciler.NodeStatus
	}{
		{"representative", testStatus()},
		{"before the first revision", &reconciler.NodeStatus{Node: "fresh-node", Branch: "main"}},
		{"only a refusal", &reconciler.NodeStatus{Node: "n.example.org", Branch: "prod", Refused: &reconciler.RefusedRevision{
			Revision: "abc", Reason: "Unsigned", Message: "no signature\non the commit",
			Diagnostics: []spec.Diagnostic{
				{Position: spec.Position{File: "dir: with colon/a.yaml", Line: 3, Column: 7}, Severity: spec.SeverityWarning,
					Kind: "Bridge", Field: "metadata.labels[x]", Message: "odd: but allowed"},
			},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Render(tt.ns, testSet(t))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(tt.ns.Node, files)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.ns, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse(Render(x)) (-x +got):\n%s", diff)
			}
			again, err := Render(got, testSet(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range Paths(tt.ns.Node) {
				if !bytes.Equal(files[p], again[p]) {
					t.Errorf("Render(Parse(Render(x))) changed %s:\n%s", p, cmp.Diff(string(files[p]), string(again[p])))
				}
			}
		})
	}
}

func TestParseDiagnostic(t *testing.T) {
	tests := []spec.Diagnostic{
		{Position: spec.Position{File: "a.yaml", Line: 1, Column: 2}, Severity: spec.SeverityError, Kind: "Mirror", Name: "m", Field: "spec.output", Message: "exactly one of port or vlan"},
		{Position: spec.Position{File: "a.yaml", Line: 1, Column: 2}, Severity: spec.SeverityError, Kind: "Mirror", Message: "no name"},
		{Position: spec.Position{File: "a.yaml", Line: 1, Column: 2}, Severity: spec.SeverityError, Name: "orphan", Message: "no kind"},
		{Position: spec.Position{File: "a.yaml", Line: 9, Column: 1}, Severity: spec.SeverityWarning, Field: "apiVersion", Message: "x: y: z"},
		{Position: spec.Position{File: "C:/odd:name.yaml", Line: 0, Column: 0}, Severity: spec.SeverityError, Message: "not valid UTF-8"},
		{Position: spec.Position{File: "a.yaml", Line: 4, Column: 3}, Severity: spec.SeverityError, Kind: "Bridge", Name: "b",
			Field: "spec.externalIds[wirekeeper.io/owner]", Message: "reserved key\nsecond line"},
	}
	for _, want := range tests {
		t.Run(want.String(), func(t *testing.T) {
			got, err := parseDiagnostic(want.String())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parseDiagnostic (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good, err := Render(testStatus(), nil)
	if err != nil {
		t.Fatal(err)
	}
	with := func(path, content string) Files {
		f := Files{}
		for k, v := range good {
			f[k] = v
		}
		if content == "<delete>" {
			delete(f, path)
		} else {
			f[path] = []byte(content)
		}
		return f
	}
	replace := func(path, old, new string) Files {
		return with(path, strings.Replace(string(good[path]), old, new, 1))
	}
	tests := []struct {
		name  string
		node  string
		files Files
		want  string
	}{
		{"missing yaml", "edge-1", with("status/edge-1.yaml", "<delete>"), "status/edge-1.yaml is missing"},
		{"empty yaml", "edge-1", with("status/edge-1.yaml", ""), "status/edge-1.yaml is empty"},
		{"bad node name", "../x", good, "invalid node name"},
		{"other node's file", "edge-2", Files{"status/edge-2.yaml": good["status/edge-1.yaml"]}, `node is "edge-1", want "edge-2"`},
		{"not yaml", "edge-1", with("status/edge-1.yaml", "node: [edge-1"), "status/edge-1.yaml: yaml:"},
		{"unknown field", "edge-1", replace("status/edge-1.yaml", "appliedRevision:", "appliedRevison:"), "field appliedRevison not found"},
		{"bad time", "edge-1", replace("status/edge-1.yaml", `lastTransitionTime: "2024-05-01T07:00:00Z"`, "lastTransitionTime: yesterday"),
			`objects[0].conditions[0].lastTransitionTime: invalid time "yesterday"`},
		{"bad diagnostic", "edge-1", replace("status/edge-1.yaml", "'mirrors.yaml:12:5: error:", "'mirrors.yaml: error:"), "refused.diagnostics[0]"},
		{"negative omitted count", "edge-1", replace("status/edge-1.yaml", "  since: \"2024-05-01T08:00:00Z\"\n", "  since: \"2024-05-01T08:00:00Z\"\n  diagnosticsOmitted: -3\n"),
			"refused.diagnosticsOmitted: -3 is negative"},
		{"object without name", "edge-1", replace("status/edge-1.yaml", "name: edge-br-int", "name: ''"), "objects[1]: kind and name are required"},
		{"no drift block", "edge-1", with("drift/edge-1.md", "# Drift log\n"), "has no \"<!-- wirekeeper:drift-log v1\" block"},
		{"unclosed drift block", "edge-1", replace("drift/edge-1.md", "\n-->\n", "\n"), "is not closed"},
		{"bad drift line", "edge-1", replace("drift/edge-1.md", `{"time":"2024-05-01T10:02:00Z"`, `{"time":"2024-05-01T10:02:00Z",`), "drift/edge-1.md:"},
		{"bad drift time", "edge-1", replace("drift/edge-1.md", `{"time":"2024-05-01T10:02:00Z"`, `{"time":"soon"`), `time: invalid time "soon"`},
		{"unknown drift field", "edge-1", replace("drift/edge-1.md", `{"time":`, `{"tyme":"x","time":`), `unknown field "tyme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.node, tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "status: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// Without a drift log there is simply no drift.
	ns, err := Parse("edge-1", with("drift/edge-1.md", "<delete>"))
	if err != nil || len(ns.Drift) != 0 {
		t.Errorf("Parse without drift log = %v events, %v; want none, nil", len(ns.Drift), err)
	}
}

// A bounded status reads back as what its files show, the count of the
// diagnostics they leave out included, and renders to the same bytes again:
// a daemon that restores it does not commit merely because it restarted.
func TestParseBoundedStatus(t *testing.T) {
	long, _ := longTextStatus()
	tests := []struct {
		name        string
		ns          *reconciler.NodeStatus
		diagnostics int
		omitted     int
	}{
		{"60,000 diagnostics", refusedStatus(invalidVLANs(t, 60_000)), 50, 59_950},
		{"long texts and lists", long, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Render(tt.ns, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(tt.ns.Node, files)
			if err != nil {
				t.Fatal(err)
			}
			if r := got.Refused; len(r.Diagnostics) != tt.diagnostics || r.DiagnosticsOmitted != tt.omitted {
				t.Errorf("parsed refusal has %d diagnostics and %d omitted, want %d and %d", len(r.Diagnostics), r.DiagnosticsOmitted, tt.diagnostics, tt.omitted)
			}
			again, err := Render(got, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range Paths(tt.ns.Node) {
				if !bytes.Equal(files[p], again[p]) {
					t.Errorf("Render(Parse(Render(x))) changed %s:\n%s", p, cmp.Diff(string(files[p]), string(again[p])))
				}
			}
		})
	}
}
