package review_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestMarkdownAnnotatedPlan is the golden comment for the common case: a
// create, an update and a delete, each annotated with what hv1 last
// recorded, with '|' and newlines escaped in table cells.
func TestMarkdownAnnotatedPlan(t *testing.T) {
	r := newReport(t, baseSpecs, headSpecs, map[string]*reconciler.NodeStatus{"hv1": hv1Status()})
	want := "<!-- wirekeeper-plan -->\n" +
		"## wirekeeper plan: merging `feature` into `main`\n" +
		"\n" +
		"Head `feature` at `2222222` (Move the tap \\| add new) against base `main` at `1111111`, spec folder `specs`.\n" +
		"\n" +
		"### Summary\n" +
		"\n" +
		"- **hv1**: 1 to create, 1 to update, 1 to delete, 2 unchanged\n" +
		"\n" +
		"### hv1\n" +
		"\n" +
		"Last recorded status: the node enforces `1111111`, the base head — 2 ready, 1 drifted, 1 degraded.\n" +
		"\n" +
		"| Action | Object | Changes | Live status |\n" +
		"|---|---|---|---|\n" +
		"| ➕ create | `Mirror/new` | added (6 fields) | not on the node yet |\n" +
		"| ➖ delete | `Mirror/old` | removed from the spec | ⚠ Degraded: a live Mirror named \"old\" exists that wirekeeper did not create \\| left alone<br>remove it |\n" +
		"| ✏️ update | `Mirror/tap` | `spec.output.port: \"tap0\" → \"tap1\"` | ⚠ Drifted: live differs: spec.output.port is \"eth9\", want \"tap0\"<br>last drift 2024-05-01 10:00:00Z: spec.output.port — reported (policy observe) |\n" +
		"\n" +
		"```diff\n" +
		"@@ create Mirror/new @@\n" +
		"+ spec.bridge: \"br0\"\n" +
		"+ spec.manager: \"ovs1\"\n" +
		"+ spec.mirrorName: \"new\"\n" +
		"+ spec.output.port: \"tap7\"\n" +
		"+ spec.policy: \"enforce\"\n" +
		"+ spec.selectAll: true\n" +
		"@@ delete Mirror/old @@\n" +
		"- spec.bridge: \"br0\"\n" +
		"- spec.manager: \"ovs1\"\n" +
		"- spec.mirrorName: \"old\"\n" +
		"- spec.output.port: \"tap5\"\n" +
		"- spec.policy: \"enforce\"\n" +
		"- spec.selectAll: true\n" +
		"```\n"
	if diff := cmp.Diff(lines(want), lines(review.Markdown(r))); diff != "" {
		t.Errorf("Markdown (-want +got):\n%s", diff)
	}
}

func TestMarkdown(t *testing.T) {
	withStatus := func(mod func(*reconciler.NodeStatus)) map[string]*reconciler.NodeStatus {
		ns := hv1Status()
		mod(ns)
		return map[string]*reconciler.NodeStatus{"hv1": ns}
	}
	many := manager
	for i := range 6 {
		many += mirror(fmt.Sprintf("m%d", i), fmt.Sprintf("tap%d", i))
	}
	tests := []struct {
		name       string
		base, head string
		status     map[string]*reconciler.NodeStatus
		mod        func(*review.Report)
		want       []string // substrings that must appear
		wantNot    []string // substrings that must not appear
	}{
		{
			name: "no status recorded",
			base: baseSpecs, head: headSpecs,
			want: []string{
				"No status recorded for this node on `wirekeeper/status`.",
				"| ✏️ update | `Mirror/tap` | `spec.output.port: \"tap0\" → \"tap1\"` | no status recorded |",
				"| ➕ create | `Mirror/new` | added (6 fields) | no status recorded |",
			},
			wantNot: []string{"Last recorded status"},
		},
		{
			name: "node behind, refusing the base head, source problem",
			base: baseSpecs, head: headSpecs,
			status: withStatus(func(ns *reconciler.NodeStatus) {
				ns.AppliedRevision = "3333333cccccccccccccccccccccccccccccccc"
				ns.Refused = &reconciler.RefusedRevision{Revision: baseHash, Reason: "Invalid", Message: "2 errors <in> specs", Since: at("2024-05-01T08:00:00Z")}
				ns.Source = &reconciler.SourceProblem{Reason: "Unreachable", Message: "connection refused", Since: at("2024-05-01T08:30:00Z")}
			}),
			want: []string{
				"the node enforces `3333333`, **not the base head** `1111111`: it is behind or follows another branch",
				"> ⚠ The node refuses revision `1111111` (the base head) since 2024-05-01 08:00:00Z (Invalid): 2 errors &lt;in&gt; specs\n",
				"> ⚠ The node cannot follow its spec branch since 2024-05-01 08:30:00Z (Unreachable): connection refused\n",
			},
		},
		{
			name: "pending, failed and unrecorded objects",
			base: baseSpecs, head: headSpecs,
			status: withStatus(func(ns *reconciler.NodeStatus) {
				ns.Objects = []reconciler.ObjectStatus{
					{Kind: "Mirror", Name: "old", Phase: reconciler.PhaseFailed, Message: "ovsdb: transact: timeout"},
					{Kind: "Mirror", Name: "new", Phase: reconciler.PhasePending, Message: "waiting for OVSManager/ovs1"},
				}
			}),
			want: []string{
				"| ➕ create | `Mirror/new` | added (6 fields) | … Pending: waiting for OVSManager/ovs1 |",
				"| ➖ delete | `Mirror/old` | removed from the spec | ✗ Failed: ovsdb: transact: timeout |",
				"| `spec.output.port: \"tap0\" → \"tap1\"` | not in the node's status |",
				"— 1 pending, 1 failed.",
			},
		},
		{
			name: "prune guard",
			base: many, head: manager + mirror("m0", "tap0"),
			want: []string{
				"- **hv1**: 5 to delete, 2 unchanged",
				"> ⚠ **Prune guard**: this revision removes 5 of the node's 7 objects, more than the prune guard allows (50%): the daemon will refuse this revision unless the head commit message carries \"wirekeeper: allow-prune\".",
			},
		},
		{
			name: "long diff folded",
			base: manager, head: many,
			want: []string{
				"- **hv1**: 6 to create, 1 unchanged",
				"<details><summary>Field diffs of 6 objects (42 lines)</summary>\n\n```diff\n@@ create Mirror/m0 @@\n",
				"```\n\n</details>\n",
			},
		},
		{
			name: "update of many fields goes to the diff block",
			base: baseSpecs,
			head: strings.Replace(baseSpecs, "{manager: ovs1, bridge: br0, selectAll: true, output: {port: tap0}}",
				"{manager: ovs1, bridge: br1, mirrorName: other, selectSrcPorts: [a, b], output: {port: tap3}, policy: observe}", 1),
			want: []string{
				"| ✏️ update | `Mirror/tap` | 6 fields changed: spec.bridge, spec.mirrorName, spec.output.port, … |",
				"@@ update Mirror/tap @@\n- spec.bridge: \"br0\"\n+ spec.bridge: \"br1\"\n",
				"+ spec.selectSrcPorts: [\"a\", \"b\"]\n",
				"- spec.policy: \"enforce\"\n+ spec.policy: \"observe\"\n",
			},
		},
		{
			name: "invalid head",
			base: baseSpecs, head: headSpecs + mirror("bad", `""`),
			want: []string{
				"> ✗ **The head revision `2222222` is invalid: the daemons would refuse it** and keep enforcing the revision they have. 1 error:",
				"```text\nspecs/ovs.yaml:24:68: error: Mirror/bad: spec.output.port: must not be empty\n```\n",
			},
			wantNot: []string{"### Summary", "| Action |"},
		},
		{
			name: "invalid base",
			base: baseSpecs + mirror("bad", `""`), head: headSpecs,
			want: []string{
				"> ⚠ **The base revision `1111111` is invalid** (1 error), so this plan starts from an empty base: every object of the head shows as a create.",
				"<details><summary>Problems of the base revision</summary>\n\n```text\nspecs/ovs.yaml:",
				"- **hv1**: 4 to create, 0 unchanged",
			},
		},
		{
			name: "no changes",
			base: baseSpecs, head: baseSpecs,
			status: withStatus(func(*reconciler.NodeStatus) {}),
			want: []string{
				"**No changes**: merging would change nothing on any node.",
				"- **hv1**: no changes, 4 unchanged",
			},
			wantNot: []string{"### hv1", "| Action |"},
		},
		{
			name: "warnings, backticks in names",
			base: baseSpecs, head: headSpecs,
			mod: func(r *review.Report) {
				r.Warnings = []string{"status branch wirekeeper/status unreadable: <eof>\nretry"}
				r.Head.Ref = "feat`x"
			},
			want: []string{
				"> ⚠ status branch wirekeeper/status unreadable: &lt;eof&gt; retry\n",
				"## wirekeeper plan: merging `featˋx` into `main`",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReport(t, tt.base, tt.head, tt.status)
			if tt.mod != nil {
				tt.mod(r)
			}
			got := review.Markdown(r)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
		})
	}
}

// TestMarkdownStaysUnderCommentLimit plans so many creates that the field
// diffs would exceed GitHub's limit: they are left out, the tables stay.
func TestMarkdownStaysUnderCommentLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(manager)
	for i := range 1200 {
		b.WriteString(mirror(fmt.Sprintf("mirror-%04d", i), fmt.Sprintf("tap%d", i)))
	}
	r := newReport(t, manager, b.String(), nil)
	start := time.Now()
	got := review.Markdown(r)
	t.Logf("rendered %d creates in %v, %d bytes", 1200, time.Since(start), len(got))
	if len(got) > review.MaxCommentLength {
		t.Errorf("comment of %d bytes, limit %d", len(got), review.MaxCommentLength)
	}
	for _, w := range []string{"_Field diffs left out", "- **hv1**: 1200 to create, 1 unchanged", "| ➕ create | `Mirror/mirror-0000` |", "| … | 700 more | | |\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q", w)
		}
	}
	if strings.Contains(got, "```diff") {
		t.Error("the field diffs are still there")
	}
}

// An invalid head lists 50 diagnostics, each clipped, and counts the rest:
// the comment stays within GitHub's limit even when every diagnostic
// echoes a 1 MiB value.
func TestMarkdownBoundsDiagnostics(t *testing.T) {
	huge := "no port " + strings.Repeat("v", 1<<20) // shared by all, not copied
	ds := make(spec.Diagnostics, 60_000)
	for i := range ds {
		ds[i] = spec.Diagnostic{Position: spec.Position{File: "m.yaml", Line: i + 1, Column: 1}, Severity: spec.SeverityError,
			Kind: "Mirror", Name: "m", Field: fmt.Sprintf("spec.selectSrcPorts[%d]", i), Message: huge}
	}
	r := &review.Report{Base: review.Revision{Ref: "main", Hash: baseHash}, Head: review.Revision{Ref: "feature", Hash: headHash, Diagnostics: ds}}
	got := review.Markdown(r)
	if len(got) > review.MaxCommentLength {
		t.Errorf("comment is %d bytes, over GitHub's %d", len(got), review.MaxCommentLength)
	}
	for i, want := range map[int]bool{0: true, 49: true, 50: false} {
		if has := strings.Contains(got, fmt.Sprintf("error: Mirror/m: spec.selectSrcPorts[%d]: no port vvv", i)); has != want {
			t.Errorf("comment lists diagnostic %d: %v, want %v", i, has, want)
		}
	}
	if !strings.Contains(got, "\n… and 59950 more: run wirekeeper validate for all of them\n") {
		t.Errorf("comment does not count the diagnostics it leaves out")
	}
}
