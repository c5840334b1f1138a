package reconciler

import (
	"time"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Phase summarises where one object stands.
type Phase string

// The phases, as written to status/<node>.yaml.
const (
	// PhaseReady: the live object equals the spec.
	PhaseReady Phase = "Ready"
	// PhaseDrifted: the live object differs and is not repaired (policy
	// observe, or a repair not yet attempted).
	PhaseDrifted Phase = "Drifted"
	// PhasePending: not reconciled yet, or waiting for an object it depends on.
	PhasePending Phase = "Pending"
	// PhaseDegraded: applied, but the live object still differs or reports
	// a problem; or an unowned object is in the way.
	PhaseDegraded Phase = "Degraded"
	// PhaseFailed: observing or applying failed; retried with backoff.
	PhaseFailed Phase = "Failed"
	// PhaseSuspended: paused by the wirekeeper.io/suspend annotation.
	PhaseSuspended Phase = "Suspended"
)

// Condition types kept for each object.
const (
	// ConditionReady is True when the live object equals the spec and works.
	ConditionReady = "Ready"
	// ConditionSynced is True when the last observe and apply succeeded.
	ConditionSynced = "Synced"
)

// Condition is one aspect of an object's state, in the Kubernetes shape.
// LastTransitionTime changes only when Status does.
type Condition struct {
	Type               string    `json:"type" yaml:"type"`
	Status             string    `json:"status" yaml:"status"` // True, False or Unknown
	Reason             string    `json:"reason" yaml:"reason"`
	Message            string    `json:"message,omitempty" yaml:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime" yaml:"lastTransitionTime"`
}

// ObjectStatus is the status of one object of a node.
type ObjectStatus struct {
	Kind  string `json:"kind" yaml:"kind"`
	Name  string `json:"name" yaml:"name"`
	Phase Phase  `json:"phase" yaml:"phase"`
	// Revision is the spec commit the object's state reflects.
	Revision   string      `json:"revision,omitempty" yaml:"revision,omitempty"`
	Message    string      `json:"message,omitempty" yaml:"message,omitempty"`
	Conditions []Condition `json:"conditions,omitempty" yaml:"conditions,omitempty"`
	// LastDrift is the most recent drift seen on the object, if any.
	LastDrift *DriftEvent `json:"lastDrift,omitempty" yaml:"lastDrift,omitempty"`
	// Unmanaged lists live objects under this one that are neither in git
	// nor owned (foreign mirrors on a manager); wirekeeper leaves them alone.
	Unmanaged []string `json:"unmanaged,omitempty" yaml:"unmanaged,omitempty"`
	// Details are the provider's facts about the working object.
	Details []string `json:"details,omitempty" yaml:"details,omitempty"`
}

// Ref returns the object's ref.
func (s *ObjectStatus) Ref() Ref { return Ref{Kind: s.Kind, Name: s.Name} }

// DriftEvent is one observed difference between the live system and the
// spec that the spec did not cause: somebody or something changed the
// live object.
type DriftEvent struct {
	Time time.Time `json:"time" yaml:"time"`
	Kind string    `json:"kind" yaml:"kind"`
	Name string    `json:"name" yaml:"name"`
	// Revision is the spec commit that was enforced when the drift was seen.
	Revision string `json:"revision,omitempty" yaml:"revision,omitempty"`
	// Diff holds each drifted field: From is the value the spec wants, To
	// the value found live. A deleted object shows as one entry "exists".
	Diff []FieldDiff `json:"diff" yaml:"diff"`
	// Repaired is true once wirekeeper put the object back, at RepairedAt.
	// Under policy observe the drift is only reported and stays false.
	Repaired   bool       `json:"repaired" yaml:"repaired"`
	RepairedAt *time.Time `json:"repairedAt,omitempty" yaml:"repairedAt,omitempty"`
	// Policy is the object's policy when the drift was seen (enforce|observe).
	Policy string `json:"policy" yaml:"policy"`
	// Adopted marks the take-over of a live object wirekeeper did not
	// create (same name, same place); Diff then lists the fields the
	// adoption changed, and an entry "owner".
	Adopted bool `json:"adopted,omitempty" yaml:"adopted,omitempty"`
}

// RefusedRevision is a spec revision the node did not apply, and why.
type RefusedRevision struct {
	Revision string `json:"revision" yaml:"revision"`
	// Reason is a short code: Invalid, Unsigned, BadSignature, Untrusted,
	// PruneGuard.
	Reason  string `json:"reason" yaml:"reason"`
	Message string `json:"message" yaml:"message"`
	// Since is when this revision was first refused.
	Since       time.Time         `json:"since" yaml:"since"`
	Diagnostics []spec.Diagnostic `json:"diagnostics,omitempty" yaml:"diagnostics,omitempty"`
	// DiagnosticsOmitted counts the diagnostics left out of Diagnostics:
	// the status files list at most MaxListed of them (see ListDiagnostics),
	// so a status read back from the branch has the rest only as this count.
	DiagnosticsOmitted int `json:"diagnosticsOmitted,omitempty" yaml:"diagnosticsOmitted,omitempty"`
}

// SourceProblem is a problem reaching or reading the spec branch (remote
// unreachable, branch deleted, force-push, cache re-cloned).
type SourceProblem struct {
	Reason  string    `json:"reason" yaml:"reason"`
	Message string    `json:"message" yaml:"message"`
	Since   time.Time `json:"since" yaml:"since"`
}

// NodeStatus is everything written to status/<node>.yaml and drift/<node>.md.
type NodeStatus struct {
	Node string `json:"node" yaml:"node"`
	// Branch and Path locate the specs the node follows.
	Branch string `json:"branch" yaml:"branch"`
	Path   string `json:"path,omitempty" yaml:"path,omitempty"`
	// AppliedRevision is the spec commit being enforced ("" before the first).
	AppliedRevision string `json:"appliedRevision" yaml:"appliedRevision"`
	// Reported is when the node's daemon last confirmed this status; zero
	// when unknown (a status written before the field existed). The fleet
	// views call a node silent when it is too old (see FleetCheck.Silent).
	Reported time.Time `json:"reported,omitzero" yaml:"reported,omitzero"`
	// Refused is the newest revision the node would not apply, while it
	// stays the branch head.
	Refused *RefusedRevision `json:"refused,omitempty" yaml:"refused,omitempty"`
	// Source is the current problem with the spec branch, if any.
	Source *SourceProblem `json:"source,omitempty" yaml:"source,omitempty"`
	// Objects are sorted by kind (registry order) then name.
	Objects []ObjectStatus `json:"objects" yaml:"objects"`
	// Drift is the drift log, newest first, at most MaxDriftEvents long.
	Drift []DriftEvent `json:"-" yaml:"-"`
}

// MaxDriftEvents bounds the drift log kept per node.
const MaxDriftEvents = 200

// Counts returns how many objects are in each phase.
func (n *NodeStatus) Counts() map[Phase]int {
	c := map[Phase]int{}
	for _, o := range n.Objects {
		c[o.Phase]++
	}
	return c
}

// Object returns the status of ref, or nil.
func (n *NodeStatus) Object(ref Ref) *ObjectStatus {
	for i := range n.Objects {
		if n.Objects[i].Kind == ref.Kind && n.Objects[i].Name == ref.Name {
			return &n.Objects[i]
		}
	}
	return nil
}

// HumanTime renders a report time for people: UTC to the second, "—" when unset.
func HumanTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z07:00")
}

// Outcome says what became of the drift: repaired (and when), only reported
// under policy observe, or not yet repaired.
func (d *DriftEvent) Outcome() string {
	switch {
	case d.Adopted && d.Repaired && d.RepairedAt != nil:
		return "adopted at " + HumanTime(*d.RepairedAt)
	case d.Adopted && d.Policy == string(spec.PolicyObserve):
		return "not adopted (policy observe)"
	case d.Repaired && d.RepairedAt != nil:
		return "repaired at " + HumanTime(*d.RepairedAt)
	case d.Repaired:
		return "repaired"
	case d.Policy == string(spec.PolicyObserve):
		return "reported (policy observe)"
	}
	return "not yet repaired"
}
