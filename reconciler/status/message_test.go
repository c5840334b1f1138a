package status

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

func TestCommitMessage(t *testing.T) {
	obj := func(kind, name string, p reconciler.Phase) reconciler.ObjectStatus {
		return reconciler.ObjectStatus{Kind: kind, Name: name, Phase: p}
	}
	drift := func(name, when string, repaired bool) reconciler.DriftEvent {
		e := reconciler.DriftEvent{Time: at(when), Kind: "Mirror", Name: name, Policy: "enforce",
			Diff: []reconciler.FieldDiff{{Path: "spec.output.port", From: "tap0", To: "tap9"}}}
		if repaired {
			e.Repaired, e.RepairedAt = true, atp("2024-05-01T10:00:09Z")
		}
		return e
	}
	status := func(objs []reconciler.ObjectStatus, events ...reconciler.DriftEvent) *reconciler.NodeStatus {
		return &reconciler.NodeStatus{Node: "edge-1", Branch: "main", AppliedRevision: "3f2a9c1e5d4b", Objects: objs, Drift: events}
	}
	ready := []reconciler.ObjectStatus{
		obj("OVSManager", "ovs", reconciler.PhaseReady),
		obj("Bridge", "br", reconciler.PhaseReady),
		obj("Mirror", "m1", reconciler.PhaseReady),
	}
	twoDrifted := []reconciler.ObjectStatus{
		obj("OVSManager", "ovs", reconciler.PhaseReady),
		obj("Mirror", "m1", reconciler.PhaseDrifted),
		obj("Mirror", "m2", reconciler.PhaseDrifted),
	}
	refused := status(ready)
	refused.Refused = &reconciler.RefusedRevision{Revision: "9e8d7c6b5a4f", Reason: "Invalid", Message: "2 errors:\nsee status"}
	noRevision := status(nil)
	noRevision.AppliedRevision = ""
	unknownPhase := status([]reconciler.ObjectStatus{obj("Bridge", "b", ""), obj("Bridge", "c", "Weird")})

	tests := []struct {
		name      string
		prev, cur *reconciler.NodeStatus
		want      string
	}{
		{"all ready", status(ready), status(ready), "status(edge-1): all 3 ready @ 3f2a9c1"},
		{"first status, all ready", nil, status(ready), "status(edge-1): all 3 ready @ 3f2a9c1"},
		{"no revision yet", nil, noRevision, "status(edge-1): all 0 ready @ none"},
		{"drift appears", status(ready), status(twoDrifted, drift("m1", "2024-05-01T10:00:00Z", false)),
			"status(edge-1): 2 drifted, 1 new drift @ 3f2a9c1\n\n" +
				"Bridge/br: Ready -> (removed)\nMirror/m1: Ready -> Drifted\nMirror/m2: (new) -> Drifted\n" +
				"drift Mirror/m1 at 2024-05-01 10:00:00Z: spec.output.port: \"tap0\" -> \"tap9\"\n"},
		{"drift repaired", status(ready, drift("m1", "2024-05-01T10:00:00Z", false)),
			status(ready, drift("m1", "2024-05-01T10:00:00Z", true)),
			"status(edge-1): 1 repaired @ 3f2a9c1\n\nrepaired Mirror/m1 (drift at 2024-05-01 10:00:00Z)\n"},
		{"repaired before the first write counts once", nil, status(ready, drift("m1", "2024-05-01T10:00:00Z", true)),
			"status(edge-1): 1 repaired @ 3f2a9c1\n\nrepaired Mirror/m1 (drift at 2024-05-01 10:00:00Z)\n"},
		{"old repairs are not news", status(ready, drift("m1", "2024-05-01T10:00:00Z", true)),
			status(ready, drift("m1", "2024-05-01T10:00:00Z", true)), "status(edge-1): all 3 ready @ 3f2a9c1"},
		{"known unrepaired drift is not new", status(twoDrifted, drift("m1", "2024-05-01T10:00:00Z", false)),
			status(twoDrifted, drift("m1", "2024-05-01T10:00:00Z", false)), "status(edge-1): 2 drifted @ 3f2a9c1"},
		{"every phase, in report order", nil, status([]reconciler.ObjectStatus{
			obj("Mirror", "a", reconciler.PhaseFailed), obj("Mirror", "b", reconciler.PhaseSuspended),
			obj("Mirror", "c", reconciler.PhaseDegraded), obj("Mirror", "d", reconciler.PhasePending),
			obj("Mirror", "e", reconciler.PhaseDrifted), obj("Mirror", "f", reconciler.PhaseFailed),
		}), "status(edge-1): 1 drifted, 1 pending, 1 degraded, 2 failed, 1 suspended @ 3f2a9c1\n\n" +
			"Mirror/a: (new) -> Failed\nMirror/b: (new) -> Suspended\nMirror/c: (new) -> Degraded\n" +
			"Mirror/d: (new) -> Pending\nMirror/e: (new) -> Drifted\nMirror/f: (new) -> Failed\n"},
		{"new refusal", status(ready), refused,
			"status(edge-1): refused 9e8d7c6 @ 3f2a9c1\n\nrefused 9e8d7c6 (Invalid): 2 errors: see status\n"},
		{"same refusal again", refused, refused, "status(edge-1): all 3 ready @ 3f2a9c1"},
		{"unknown phases", nil, unknownPhase, "status(edge-1): 1 unknown, 1 weird @ 3f2a9c1\n\n" +
			"Bridge/b: (new) -> Unknown\nBridge/c: (new) -> Weird\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CommitMessage(tt.prev, tt.cur)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CommitMessage (-want +got):\n%s", diff)
			}
			if subject, _, _ := strings.Cut(got, "\n"); strings.Contains(subject, "\r") {
				t.Errorf("subject %q is not one line", subject)
			}
			if again := CommitMessage(tt.prev, tt.cur); again != got {
				t.Errorf("CommitMessage is not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestCommitMessageMatchesParsedPrev(t *testing.T) {
	// The daemon compares the status it read back from the branch with the
	// one in memory: sub-second drift times must still match.
	cur := testStatus()
	files, err := Render(cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := Parse("edge-1", files)
	if err != nil {
		t.Fatal(err)
	}
	want := "status(edge-1): 1 drifted, 1 failed, 1 suspended @ 3f2a9c1"
	if got := CommitMessage(prev, cur); got != want {
		t.Errorf("CommitMessage(Parse(Render(x)), x) = %q, want %q", got, want)
	}
}
