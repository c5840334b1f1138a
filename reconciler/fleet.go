package reconciler

import (
	"cmp"
	"time"
)

// A fleet is read from the status of each of its nodes. The fleet page on
// the status branch and `wirekeeper status` both pick out the same problem
// nodes: not Ready, silent, or not on the newest spec revision. The rules
// live here so that the two never disagree.

// nodePhaseOrder ranks phases from the most to the least severe: a node
// takes the phase of its worst object.
var nodePhaseOrder = []Phase{PhaseFailed, PhaseDegraded, PhaseDrifted, PhasePending, PhaseSuspended, PhaseReady}

// PhaseSeverity ranks p for sorting problem nodes: 0 for Failed, then
// Degraded, Drifted, Pending, Suspended, and Ready last. A phase that is not
// one of the six ranks with Pending: its state is unknown.
func PhaseSeverity(p Phase) int {
	for i, q := range nodePhaseOrder {
		if p == q {
			return i
		}
	}
	return PhaseSeverity(PhasePending)
}

// NodePhase is the phase of the node as a whole: the most severe phase of
// its objects (see PhaseSeverity), an unknown phase counting as Pending.
// A node with no objects is Pending until it has applied a revision, and
// Ready after (it has nothing to do).
func (n *NodeStatus) NodePhase() Phase {
	if len(n.Objects) == 0 {
		if n.AppliedRevision == "" {
			return PhasePending
		}
		return PhaseReady
	}
	worst := PhaseReady
	for _, o := range n.Objects {
		if PhaseSeverity(o.Phase) < PhaseSeverity(worst) {
			worst = cmp.Or(knownPhase(o.Phase), PhasePending)
		}
	}
	return worst
}

func knownPhase(p Phase) Phase {
	for _, q := range nodePhaseOrder {
		if p == q {
			return p
		}
	}
	return ""
}

// FleetCheck holds what tells a problem node from a healthy one. Its zero
// value judges phases only: no node is silent and none is behind.
type FleetCheck struct {
	// Now is the time silence is measured at; zero: no node is silent.
	Now time.Time
	// SilentAfter is how long a node may go without reporting (see
	// NodeStatus.Reported) before it counts as silent; zero: no node is.
	SilentAfter time.Duration
	// NewestRevision is the head of the spec branch the nodes follow; "":
	// unknown, so no node is behind.
	NewestRevision string
	// Branch is the spec branch NewestRevision heads. A node following
	// another branch is never behind; "" compares every node.
	Branch string
}

// Silent reports whether ns last reported more than SilentAfter before
// Now. A status without a report time (written by a daemon older than the
// field) is never silent: nothing says when it was written. The answer
// changes only when Now crosses Reported+SilentAfter or a new report comes.
func (c FleetCheck) Silent(ns *NodeStatus) bool {
	if c.Now.IsZero() || c.SilentAfter <= 0 || ns.Reported.IsZero() {
		return false
	}
	return c.Now.Sub(ns.Reported) > c.SilentAfter
}

// Compared reports whether ns follows the branch NewestRevision heads, so
// that Behind can judge it.
func (c FleetCheck) Compared(ns *NodeStatus) bool {
	return c.NewestRevision != "" && (c.Branch == "" || ns.Branch == "" || ns.Branch == c.Branch)
}

// Behind reports whether ns follows the branch of NewestRevision and does
// not enforce it: it has not applied it yet, refused it, or applied no
// revision at all.
func (c FleetCheck) Behind(ns *NodeStatus) bool {
	return c.Compared(ns) && ns.AppliedRevision != c.NewestRevision
}

// BehindReason says in a few words why a node that is Behind does not
// enforce the newest revision: "no revision applied yet", "refused
// (Invalid)", or "" when it simply has not applied it (yet).
func (c FleetCheck) BehindReason(ns *NodeStatus) string {
	switch {
	case ns.Refused != nil && ns.Refused.Revision == c.NewestRevision:
		return "refused (" + ns.Refused.Reason + ")"
	case ns.AppliedRevision == "":
		return "no revision applied yet"
	case ns.Source != nil:
		return "source problem (" + ns.Source.Reason + ")"
	}
	return ""
}

// Problem reports whether ns is one of the nodes a fleet view lists: not
// Ready, silent or behind.
func (c FleetCheck) Problem(ns *NodeStatus) bool {
	return ns.NodePhase() != PhaseReady || c.Silent(ns) || c.Behind(ns)
}
