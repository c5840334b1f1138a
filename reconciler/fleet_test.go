package reconciler_test

import (
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

func TestNodePhase(t *testing.T) {
	obj := func(p reconciler.Phase) reconciler.ObjectStatus {
		return reconciler.ObjectStatus{Kind: "Mirror", Name: string(p), Phase: p}
	}
	tests := []struct {
		name string
		ns   reconciler.NodeStatus
		want reconciler.Phase
	}{
		{"no revision, no objects", reconciler.NodeStatus{}, reconciler.PhasePending},
		{"a revision, no objects", reconciler.NodeStatus{AppliedRevision: "abc"}, reconciler.PhaseReady},
		{"all ready", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Ready"), obj("Ready")}}, reconciler.PhaseReady},
		{"suspended", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Ready"), obj("Suspended")}}, reconciler.PhaseSuspended},
		{"pending over suspended", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Suspended"), obj("Pending")}}, reconciler.PhasePending},
		{"drifted over pending", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Pending"), obj("Drifted")}}, reconciler.PhaseDrifted},
		{"degraded over drifted", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Drifted"), obj("Degraded")}}, reconciler.PhaseDegraded},
		{"failed over all", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Failed"), obj("Degraded"), obj("Ready")}}, reconciler.PhaseFailed},
		{"unknown phase counts as pending", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Ready"), obj("Exploded")}}, reconciler.PhasePending},
		{"unknown phase under drifted", reconciler.NodeStatus{Objects: []reconciler.ObjectStatus{obj("Exploded"), obj("Drifted")}}, reconciler.PhaseDrifted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ns.NodePhase(); got != tt.want {
				t.Errorf("NodePhase = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFleetCheck(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// "new" was committed 100 s ago: nodes had 90 s to answer it.
	committed := now.Add(-100 * time.Second)
	check := reconciler.FleetCheck{Now: now, SilentAfter: 90 * time.Second, NewestRevision: "new", NewestAt: committed, Branch: "main"}
	early := check
	early.Now = committed.Add(90 * time.Second) // not yet past the threshold
	unknownAt := check
	unknownAt.NewestAt = time.Time{}
	tests := []struct {
		name                    string
		check                   reconciler.FleetCheck
		ns                      reconciler.NodeStatus
		silent, behind, problem bool
		reason                  string
	}{
		{name: "healthy", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "new", Reported: committed.Add(time.Second)}},
		{name: "applied the newest long ago is not silent", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "new", Reported: now.Add(-time.Hour)}},
		{name: "silent", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: committed.Add(-time.Hour)}, silent: true, behind: true, problem: true, reason: "silent"},
		{name: "no report time, not on the newest, is silent", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old"}, silent: true, behind: true, problem: true, reason: "silent"},
		{name: "not silent before the threshold", check: early, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: committed.Add(-time.Hour)}, behind: true, problem: true},
		{name: "commit time unknown: never silent", check: unknownAt, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: committed.Add(-time.Hour)}, behind: true, problem: true},
		{name: "a report after the commit answers", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: committed.Add(time.Second),
			Source: &reconciler.SourceProblem{Reason: "Unreachable"}}, behind: true, problem: true, reason: "source problem (Unreachable)"},
		{name: "refusing the newest answers", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: committed.Add(-time.Hour),
			Refused: &reconciler.RefusedRevision{Revision: "new", Reason: "Invalid"}}, behind: true, problem: true, reason: "refused (Invalid)"},
		{name: "another branch is never silent", check: check, ns: reconciler.NodeStatus{Branch: "prod", AppliedRevision: "old", Reported: committed.Add(-time.Hour)}},
		{name: "zero check judges phases only", ns: reconciler.NodeStatus{AppliedRevision: "old", Reported: now.Add(-time.Hour)}},
		{name: "behind", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: now}, behind: true, problem: true},
		{name: "another branch is not behind", check: check, ns: reconciler.NodeStatus{Branch: "prod", AppliedRevision: "old", Reported: now}},
		{name: "no branch recorded is compared", check: check, ns: reconciler.NodeStatus{AppliedRevision: "old", Reported: now}, behind: true, problem: true},
		{name: "refused", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: now,
			Refused: &reconciler.RefusedRevision{Revision: "new", Reason: "Invalid"}}, behind: true, problem: true, reason: "refused (Invalid)"},
		{name: "refused an older one", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: now,
			Refused: &reconciler.RefusedRevision{Revision: "older", Reason: "Invalid"}}, behind: true, problem: true},
		{name: "never applied", check: check, ns: reconciler.NodeStatus{Branch: "main", Reported: now}, behind: true, problem: true, reason: "no revision applied yet"},
		{name: "source problem", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "old", Reported: now,
			Source: &reconciler.SourceProblem{Reason: "Unreachable"}}, behind: true, problem: true, reason: "source problem (Unreachable)"},
		{name: "not ready", check: check, ns: reconciler.NodeStatus{Branch: "main", AppliedRevision: "new", Reported: now,
			Objects: []reconciler.ObjectStatus{{Kind: "Mirror", Name: "m", Phase: reconciler.PhaseDrifted}}}, problem: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &tt.ns
			if got := tt.check.Silent(ns); got != tt.silent {
				t.Errorf("Silent = %v, want %v", got, tt.silent)
			}
			if got := tt.check.Behind(ns); got != tt.behind {
				t.Errorf("Behind = %v, want %v", got, tt.behind)
			}
			if got := tt.check.Problem(ns); got != tt.problem {
				t.Errorf("Problem = %v, want %v", got, tt.problem)
			}
			if tt.behind {
				if got := tt.check.BehindReason(ns); got != tt.reason {
					t.Errorf("BehindReason = %q, want %q", got, tt.reason)
				}
			}
		})
	}
}
