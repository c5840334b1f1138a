// Package review renders what merging a spec branch would do, for the
// pull-request view (`wirekeeper plan`), and the status branch as people
// read it on a terminal (`wirekeeper status`). Everything here is a pure
// function of its input: the commands fetch the revisions and the status,
// plan them with reconciler.PlanRevisions, and hand the result to Markdown,
// JSON or StatusText.
package review

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Revision is one side of the comparison: a commit of the spec repository
// and what validating its specs found.
type Revision struct {
	// Ref is the branch or commit as the user named it ("main", "feature").
	Ref string
	// Hash is the full commit hash.
	Hash    string
	Message string
	Author  string
	Time    time.Time
	// Diagnostics are the problems found validating the revision's specs,
	// with repository-relative file:line:column positions.
	Diagnostics spec.Diagnostics
}

// Valid reports whether the revision's specs have no errors (warnings
// allowed): whether a daemon would apply it.
func (r *Revision) Valid() bool { return !r.Diagnostics.HasErrors() }

// Short is the abbreviated hash, as git shows it.
func (r *Revision) Short() string { return reconciler.ShortHash(r.Hash) }

// Subject is the first line of the commit message.
func (r *Revision) Subject() string {
	s, _, _ := strings.Cut(r.Message, "\n")
	return strings.TrimSpace(s)
}

// Report is everything a plan review shows: the two revisions, the plan of
// each node from base to head and what the status branch last recorded for
// each node. The command that builds it plans from an empty base when Base
// is invalid and plans nothing when Head is invalid; the renderers say so.
type Report struct {
	// Repo is the spec repository, safe to show (no credentials); may be empty.
	Repo string
	// Path is the spec folder inside the repository; "" or "." is the root.
	Path       string
	Base, Head Revision
	// Nodes are the plans from reconciler.PlanRevisions, sorted by node;
	// empty when Head is invalid.
	Nodes []reconciler.NodePlan
	// StatusBranch is the branch Status was read from.
	StatusBranch string
	// Status is each node's status as the status branch last recorded it; a
	// node missing from the map (or nil) has no status recorded.
	Status map[string]*reconciler.NodeStatus
	// Warnings are problems that did not stop the plan, such as a status
	// branch that could not be read. One line each.
	Warnings []string
	// Merge says how head merges into base; nil when the plan compares the
	// two tips (an invalid base, or a merge base that cannot be used).
	Merge *Merge
	// Trust, when a trust policy was given, says per node whether its
	// daemon would accept the head's commits: "" accepted, else why not.
	// nil when no policy was given.
	Trust map[string]string
}

// Merge is how the plan merged head into base: object by object, from
// their merge base (reconciler.MergeSets), so that what base gained after
// head forked shows as neither a revert nor a change.
type Merge struct {
	// Base is the merge base's full hash; "" when the two histories share
	// no commit (they merge as if from an empty tree).
	Base string
	// Others are the other best common ancestors of a criss-cross history;
	// the plan used Base, the newest.
	Others []string
	// Behind counts the commits of base that head lacks.
	Behind int
	// Conflicts are the objects both sides changed differently since Base.
	Conflicts []reconciler.Conflict
	// Diagnostics are the errors of the merged specs: two valid sides can
	// merge into specs the daemons would refuse.
	Diagnostics spec.Diagnostics
}

// Untrusted lists the nodes whose daemons would refuse the head under the
// trust policy, sorted.
func (r *Report) Untrusted() []string {
	var out []string
	for n, why := range r.Trust {
		if why != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Mergeable reports whether merging makes specs the daemons apply: no
// conflict and no error in the merged specs.
func (r *Report) Mergeable() bool {
	return r.Merge == nil || len(r.Merge.Conflicts) == 0 && !r.Merge.Diagnostics.HasErrors()
}

// Valid reports whether the head revision is valid, i.e. whether the
// daemons would apply it.
func (r *Report) Valid() bool { return r.Head.Valid() }

// HasChanges reports whether the plan changes anything on any node.
func (r *Report) HasChanges() bool {
	for i := range r.Nodes {
		if r.Nodes[i].HasChanges() {
			return true
		}
	}
	return false
}

// nodeStatus returns the recorded status of node, or nil.
func (r *Report) nodeStatus(node string) *reconciler.NodeStatus {
	if r.Status == nil {
		return nil
	}
	return r.Status[node]
}

// counts tallies a plan's changes by action.
type counts struct{ create, update, delete int }

func countChanges(p *reconciler.NodePlan) counts {
	var c counts
	for _, ch := range p.Changes {
		switch ch.Action {
		case reconciler.ActionCreate:
			c.create++
		case reconciler.ActionUpdate:
			c.update++
		case reconciler.ActionDelete:
			c.delete++
		}
	}
	return c
}

// summary is e.g. "2 to create, 1 to update, 1 to delete, 12 unchanged",
// leaving out the actions that do not occur.
func summary(p *reconciler.NodePlan) string {
	c := countChanges(p)
	var parts []string
	for _, x := range []struct {
		n    int
		verb string
	}{{c.create, "create"}, {c.update, "update"}, {c.delete, "delete"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", x.n, x.verb))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no changes")
	}
	return strings.Join(append(parts, fmt.Sprintf("%d unchanged", p.Unchanged)), ", ")
}

// phaseMark is the symbol shown before a phase.
func phaseMark(p reconciler.Phase) string {
	switch p {
	case reconciler.PhaseReady:
		return "✓"
	case reconciler.PhaseDrifted, reconciler.PhaseDegraded:
		return "⚠"
	case reconciler.PhasePending:
		return "…"
	case reconciler.PhaseFailed:
		return "✗"
	case reconciler.PhaseSuspended:
		return "⏸"
	}
	return "?"
}

// liveText is what the status branch says of one object, e.g.
// `⚠ Drifted: live differs: spec.output.port is "eth9", want "tap0"`; the
// last drift is separate (driftText). The message keeps its newlines: each
// renderer folds or escapes them.
func liveText(st *reconciler.ObjectStatus) string {
	s := phaseMark(st.Phase) + " " + string(st.Phase)
	if st.Message != "" {
		s += ": " + st.Message
	}
	return s
}

// driftText summarises a drift event: when, which fields, what became of it.
func driftText(d *reconciler.DriftEvent) string {
	paths := make([]string, 0, len(d.Diff))
	for _, fd := range d.Diff {
		paths = append(paths, fd.Path)
	}
	return fmt.Sprintf("last drift %s: %s — %s", reconciler.HumanTime(d.Time), strings.Join(paths, ", "), d.Outcome())
}

// Not-recorded texts of the live-status column.
const (
	noStatusText      = "no status recorded"
	notOnNodeText     = "not on the node yet"
	notRecordedObject = "not in the node's status"
)

// oneLine folds any run of whitespace, newlines included, into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
