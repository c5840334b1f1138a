package status

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// maxTestFile is what the tests accept as "small" for one status file.
const maxTestFile = 64 << 10

// invalidVLANs is a spec whose Mirror lists n VLANs, all out of range: one
// diagnostic each. It returns the error diagnostics, as the daemon records
// them in the refusal.
func invalidVLANs(t *testing.T, n int) spec.Diagnostics {
	t.Helper()
	var b strings.Builder
	b.WriteString(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: edge-ovs}
spec: {node: edge-1, address: "unix:/run/openvswitch/db.sock"}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: tap}
spec:
  manager: edge-ovs
  bridge: br-int
  output: {port: tap0}
  selectVlans: [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, 5000+i)
	}
	b.WriteString("]\n")
	_, diags := spec.LoadFS(fstest.MapFS{"mirror.yaml": {Data: []byte(b.String())}}, "")
	var errs spec.Diagnostics
	for _, d := range diags {
		if d.Severity == spec.SeverityError {
			errs = append(errs, d)
		}
	}
	if len(errs) != n {
		t.Fatalf("the spec gave %d errors, want %d (one per VLAN)", len(errs), n)
	}
	return errs
}

// refusedStatus is edge-1 refusing a revision for diags.
func refusedStatus(diags spec.Diagnostics) *reconciler.NodeStatus {
	return &reconciler.NodeStatus{
		Node: "edge-1", Branch: "main", AppliedRevision: "3f2a9c1e5d",
		Refused: &reconciler.RefusedRevision{Revision: "9e8d7c6b5a", Reason: "Invalid",
			Message: fmt.Sprintf("%d error(s) in the spec; see diagnostics", len(diags)), Since: at("2024-05-01T08:00:00Z"), Diagnostics: diags},
		Objects: []reconciler.ObjectStatus{{Kind: "OVSManager", Name: "edge-ovs", Phase: reconciler.PhaseReady}},
	}
}

// A revision refused for 60,000 invalid list items must not put 60,000
// diagnostics into the status files pushed for every node: they list the
// first 50 and count the rest, and the YAML says how many it left out.
func TestStatusFilesListFirstDiagnostics(t *testing.T) {
	url, dir := newRemote(t)
	diags := invalidVLANs(t, 60_000)
	ns := refusedStatus(diags)
	files, err := Render(ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, url)
	if committed, err := w.Write(ctx(t), "edge-1", files, CommitMessage(nil, ns)); err != nil || !committed {
		t.Fatalf("Write = %v, %v; want true, nil", committed, err)
	}

	for _, p := range Paths("edge-1") {
		if got := len(refFile(t, dir, nodeRef("edge-1"), p)); got > maxTestFile {
			t.Errorf("%s on the branch is %d bytes, want at most %d", p, got, maxTestFile)
		}
	}
	if msg := runGit(t, dir, "log", "-1", "--format=%B", nodeRef("edge-1")); len(msg) > 4096 {
		t.Errorf("the commit message is %d bytes, want a short one", len(msg))
	}
	md, yml := refFile(t, dir, nodeRef("edge-1"), "status/edge-1.md"), refFile(t, dir, nodeRef("edge-1"), "status/edge-1.yaml")
	for _, f := range []struct{ name, text, more string }{
		{"status/edge-1.md", md, "… and 59950 more: run `wirekeeper validate` on this revision for all of them"},
		{"status/edge-1.yaml", yml, "\n  diagnosticsOmitted: 59950\n"},
	} {
		for i, d := range diags[:51] {
			// "[5]:" is a prefix of "[50]:": look for the whole line.
			line := d.String() + "`"
			if f.name == "status/edge-1.yaml" {
				line = "- '" + d.String() + "'\n"
			}
			if got, want := strings.Contains(f.text, line), i < 50; got != want {
				t.Errorf("%s lists diagnostic %d (%s): %v, want %v", f.name, i, d, got, want)
			}
		}
		if n := strings.Count(f.text, "is out of range"); n != 50 {
			t.Errorf("%s lists %d diagnostics, want 50", f.name, n)
		}
		if !strings.Contains(f.text, f.more) {
			t.Errorf("%s lacks %q", f.name, f.more)
		}
	}
	if t.Failed() && len(md) <= maxTestFile {
		t.Logf("status/edge-1.md:\n%s", md)
	}
}

// Texts a spec author can make long (a value echoed in a message, the
// fields of an adoption, a provider's lines about a target) are bounded in
// every status file and in the commit message.
func TestStatusFilesBoundLongTexts(t *testing.T) {
	ns, huge := longTextStatus()
	files, err := Render(ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{"commit message": CommitMessage(nil, ns)}
	for p, data := range files {
		texts[p] = string(data)
	}
	for name, text := range texts {
		// 50 lines of 1 KiB in each of a few lists.
		if len(text) > 256<<10 {
			t.Errorf("%s is %d bytes, want at most 256 KiB", name, len(text))
		}
		if strings.Contains(text, huge[:2048]) {
			t.Errorf("%s holds a 2 KiB run of the 1 MiB value", name)
		}
	}
	for _, want := range []string{"measurement-00049", "… and 9950 more"} {
		if !strings.Contains(texts["status/edge-1.md"], want) {
			t.Errorf("status/edge-1.md lacks %q", want)
		}
	}
	if strings.Contains(texts["status/edge-1.md"], "measurement-00050") {
		t.Errorf("status/edge-1.md lists more than 50 details")
	}
	if !strings.Contains(texts["drift/edge-1.md"], "… and 9950 more fields") {
		t.Errorf("drift/edge-1.md does not count the fields it leaves out")
	}
	if want := "(a value of 20320001 bytes, too long to show)"; !strings.Contains(texts["drift/edge-1.md"], want) {
		t.Errorf("drift/edge-1.md lacks %q for the 10,000 ports", want)
	}
}

// longTextStatus is a status with 1 MiB texts and lists of 10,000 entries
// wherever a spec author can drive them; huge is the 1 MiB text.
func longTextStatus() (ns *reconciler.NodeStatus, huge string) {
	huge = strings.Repeat("x", 1<<20)
	many := make([]string, 10_000)
	fields := make([]reconciler.FieldDiff, 10_000)
	for i := range many {
		many[i] = fmt.Sprintf("measurement-%05d: collected %s", i, huge[:2000])
		fields[i] = reconciler.FieldDiff{Path: fmt.Sprintf("spec.externalIds.k%05d", i), From: "v", To: nil}
	}
	fields[0] = reconciler.FieldDiff{Path: "spec.selectSrcPorts", From: many, To: []string{"eth0"}}
	fields[1].From = huge
	drift := reconciler.DriftEvent{Time: at("2024-05-01T10:00:00Z"), Kind: "Bridge", Name: "br", Diff: fields, Policy: "enforce",
		Adopted: true, Repaired: true, RepairedAt: atp("2024-05-01T10:00:01Z")}
	ns = &reconciler.NodeStatus{
		Node: "edge-1", Branch: "main", AppliedRevision: "3f2a9c1e5d",
		Refused: &reconciler.RefusedRevision{Revision: "9e8d7c6b5a", Reason: "Failed", Message: "apply: " + huge, Since: at("2024-05-01T08:00:00Z"),
			Diagnostics: []spec.Diagnostic{{Position: spec.Position{File: "b.yaml", Line: 1, Column: 1}, Severity: spec.SeverityError,
				Kind: "Bridge", Name: "br", Field: "spec.externalIds", Message: "bad value " + huge}}},
		Source: &reconciler.SourceProblem{Reason: "FetchFailed", Message: huge, Since: at("2024-05-01T08:00:00Z")},
		Objects: []reconciler.ObjectStatus{{Kind: "Bridge", Name: "br", Phase: reconciler.PhaseFailed, Message: "ovsdb: " + huge,
			Conditions: []reconciler.Condition{{Type: "Ready", Status: "False", Reason: "Failed", Message: huge}},
			Details:    many, Unmanaged: many, LastDrift: &drift}},
		Drift: []reconciler.DriftEvent{drift},
	}
	return ns, huge
}

// The commit message lists at most 50 body lines of at most 1 KiB, then
// counts the rest, however many objects change phase and fields drift.
func TestCommitMessageBounded(t *testing.T) {
	long := strings.Repeat("v", 10_000)
	fields := make([]reconciler.FieldDiff, 100)
	for i := range fields {
		fields[i] = reconciler.FieldDiff{Path: fmt.Sprintf("spec.externalIds.k%03d", i), From: long, To: "live"}
	}
	ns := &reconciler.NodeStatus{Node: "edge-1", AppliedRevision: "3f2a9c1e5d"}
	for i := range 10_000 {
		ns.Objects = append(ns.Objects, reconciler.ObjectStatus{Kind: "Mirror", Name: fmt.Sprintf("m%05d", i), Phase: reconciler.PhaseFailed})
	}
	ns.Objects[0].LastDrift = &reconciler.DriftEvent{Time: at("2024-05-01T10:00:00Z"), Kind: "Mirror", Name: "m00000", Diff: fields, Policy: "observe"}
	msg := CommitMessage(nil, ns)
	lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
	if want := "status(edge-1): 10000 failed, 1 new drift @ 3f2a9c1"; lines[0] != want {
		t.Errorf("subject = %q, want %q", lines[0], want)
	}
	// subject, blank line, 50 of the 10,000 transitions and 100 drift lines, the count
	if len(lines) != 53 || lines[52] != "… and 10050 more" {
		t.Errorf("message has %d lines ending %q; want 53 ending %q", len(lines), lines[len(lines)-1], "… and 10050 more")
	}
	over := 0
	for _, l := range lines {
		if len(l) > 1024 {
			over++
		}
	}
	if over > 0 {
		t.Errorf("%d lines are longer than 1 KiB", over)
	}
}
