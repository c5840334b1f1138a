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
	// SilentAfter is how long after NewestAt a node may go without
	// reporting NewestRevision before it counts as silent; zero: no node
	// is.
	SilentAfter time.Duration
	// NewestRevision is the head of the spec branch the nodes follow; "":
	// unknown, so no node is behind or silent.
	NewestRevision string
	// NewestAt is when NewestRevision was committed; zero: unknown, so no
	// node is silent.
	NewestAt time.Time
	// Branch is the spec branch NewestRevision heads. A node following
	// another branch is never behind nor silent; "" compares every node.
	Branch string
}

// Silent reports whether ns has not answered NewestRevision more than
// SilentAfter after it was committed. An idle daemon pushes nothing (no
// heartbeat), so a new spec revision is what asks every node to speak:
// a node answers by applying it, by refusing it, or by any report
// (NodeStatus.Reported) after NewestAt, a source problem for instance.
// The answer changes only when Now crosses NewestAt+SilentAfter, the
// newest revision moves or the node reports.
func (c FleetCheck) Silent(ns *NodeStatus) bool {
	if c.Now.IsZero() || c.SilentAfter <= 0 || c.NewestAt.IsZero() || !c.Compared(ns) {
		return false
	}
	answered := ns.AppliedRevision == c.NewestRevision ||
		(ns.Refused != nil && ns.Refused.Revision == c.NewestRevision) ||
		ns.Reported.After(c.NewestAt)
	return !answered && c.Now.Sub(c.NewestAt) > c.SilentAfter
}

// SilentFrom is when nodes that have not answered NewestRevision become
// silent; zero when silence is not checked.
func (c FleetCheck) SilentFrom() time.Time {
	if c.SilentAfter <= 0 || c.NewestAt.IsZero() || c.NewestRevision == "" {
		return time.Time{}
	}
	return c.NewestAt.Add(c.SilentAfter)
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
// enforce the newest revision: "refused (Invalid)", "silent", "no revision
// applied yet", "source problem (Unreachable)", or "" when it simply has
// not applied it (yet).
func (c FleetCheck) BehindReason(ns *NodeStatus) string {
	switch {
	case ns.Refused != nil && ns.Refused.Revision == c.NewestRevision:
		return "refused (" + ns.Refused.Reason + ")"
	case c.Silent(ns):
		return "silent"
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
