package review

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Document is the JSON form of a Report, for scripts. Its fields are
// stable: new ones may be added, none renamed or removed. Lists are never
// null.
type Document struct {
	// Repo is the spec repository, without credentials.
	Repo string      `json:"repo,omitempty"`
	Base DocRevision `json:"base"`
	Head DocRevision `json:"head"`
	Path string      `json:"path,omitempty"`
	// Valid is false when the head revision has errors: the daemons would
	// refuse it, and Nodes is empty.
	Valid bool `json:"valid"`
	// Diagnostics are the head revision's problems (errors and warnings).
	Diagnostics spec.Diagnostics `json:"diagnostics"`
	// HasChanges reports whether any node would change.
	HasChanges   bool      `json:"hasChanges"`
	Warnings     []string  `json:"warnings"`
	StatusBranch string    `json:"statusBranch,omitempty"`
	Nodes        []DocNode `json:"nodes"`
	// Merge says how head was merged into base; absent when the plan
	// compares the two tips (an invalid base).
	Merge *DocMerge `json:"merge,omitempty"`
}

// DocMerge is Report.Merge.
type DocMerge struct {
	// MergeBase is the commit the plan merged from; "" when the histories
	// share none.
	MergeBase string `json:"mergeBase"`
	// OtherMergeBases are the criss-cross merge bases not used.
	OtherMergeBases []string `json:"otherMergeBases"`
	// Behind counts the commits of base the head lacks.
	Behind int `json:"behind"`
	// Mergeable is false when there are conflicts or the merged specs have
	// errors.
	Mergeable   bool                  `json:"mergeable"`
	Conflicts   []reconciler.Conflict `json:"conflicts"`
	Diagnostics spec.Diagnostics      `json:"diagnostics"`
}

// DocRevision is one side of the comparison.
type DocRevision struct {
	// Ref is the branch or commit as named on the command line.
	Ref      string    `json:"ref"`
	Revision string    `json:"revision"`
	Message  string    `json:"message,omitempty"`
	Author   string    `json:"author,omitempty"`
	Time     time.Time `json:"time,omitzero"`
	Valid    bool      `json:"valid"`
	// Diagnostics are the base revision's problems; for the head they are
	// Document.Diagnostics and this is left out.
	Diagnostics spec.Diagnostics `json:"diagnostics,omitempty"`
}

// DocNode is the plan of one node.
type DocNode struct {
	Node    string      `json:"node"`
	Changes []DocChange `json:"changes"`
	// Create, Update and Delete count Changes by action.
	Create    int `json:"create"`
	Update    int `json:"update"`
	Delete    int `json:"delete"`
	Unchanged int `json:"unchanged"`
	// PruneGuard, when set, says the daemon would refuse the head revision.
	PruneGuard string `json:"pruneGuard,omitempty"`
	// Status is what the status branch last recorded for the node; null
	// when nothing is recorded.
	Status *DocStatus `json:"status"`
	// Trust is present when plan was given a trust policy: whether the
	// node's daemon would accept the head's commits, and why not.
	Trust *DocTrust `json:"trust,omitempty"`
}

// DocTrust is a node's verdict under the trust policy.
type DocTrust struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason,omitempty"`
}

// DocChange is one create, update or delete, with its field diff from the
// base revision to the head.
type DocChange struct {
	Kind   string                 `json:"kind"`
	Name   string                 `json:"name"`
	Action reconciler.Action      `json:"action"`
	Reason string                 `json:"reason,omitempty"`
	Diff   []reconciler.FieldDiff `json:"diff"`
	// Live is the object's last recorded status; null when the status
	// branch has no record of it.
	Live *DocLive `json:"live"`
}

// DocLive is what the status branch last recorded for one object.
type DocLive struct {
	Phase     reconciler.Phase       `json:"phase"`
	Revision  string                 `json:"revision,omitempty"`
	Message   string                 `json:"message,omitempty"`
	LastDrift *reconciler.DriftEvent `json:"lastDrift,omitempty"`
}

// DocStatus is what the status branch last recorded for a node.
type DocStatus struct {
	AppliedRevision string `json:"appliedRevision"`
	// AtBase reports whether the node enforces the base head; when false
	// the node is behind or follows another branch.
	AtBase  bool                        `json:"atBase"`
	Refused *reconciler.RefusedRevision `json:"refused,omitempty"`
	Source  *reconciler.SourceProblem   `json:"source,omitempty"`
	// Counts are the node's objects by phase.
	Counts map[reconciler.Phase]int `json:"counts"`
}

// Document returns the JSON form of r.
func (r *Report) Document() Document {
	d := Document{
		Repo:         r.Repo,
		Base:         docRevision(&r.Base, true),
		Head:         docRevision(&r.Head, false),
		Path:         r.Path,
		Valid:        r.Valid(),
		Diagnostics:  orEmpty(r.Head.Diagnostics),
		HasChanges:   r.HasChanges(),
		Warnings:     orEmpty(r.Warnings),
		StatusBranch: r.StatusBranch,
		Nodes:        make([]DocNode, 0, len(r.Nodes)),
	}
	for i := range r.Nodes {
		d.Nodes = append(d.Nodes, docNode(r, &r.Nodes[i]))
	}
	if m := r.Merge; m != nil {
		d.Merge = &DocMerge{
			MergeBase: m.Base, OtherMergeBases: orEmpty(m.Others), Behind: m.Behind, Mergeable: r.Mergeable(),
			Conflicts: orEmpty(m.Conflicts), Diagnostics: orEmpty(m.Diagnostics),
		}
	}
	return d
}

// JSON renders r's Document, indented, with a final newline.
func JSON(r *Report) ([]byte, error) {
	out, err := json.MarshalIndent(r.Document(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("review: cannot encode the plan as JSON: %w", err)
	}
	return append(out, '\n'), nil
}

func docRevision(r *Revision, withDiagnostics bool) DocRevision {
	d := DocRevision{Ref: r.Ref, Revision: r.Hash, Message: r.Message, Author: r.Author, Time: r.Time.UTC(), Valid: r.Valid()}
	if withDiagnostics {
		d.Diagnostics = r.Diagnostics
	}
	return d
}

func docNode(r *Report, p *reconciler.NodePlan) DocNode {
	c := countChanges(p)
	ns := r.nodeStatus(p.Node)
	d := DocNode{
		Node: p.Node, Changes: make([]DocChange, 0, len(p.Changes)),
		Create: c.create, Update: c.update, Delete: c.delete,
		Unchanged: p.Unchanged, PruneGuard: p.PruneGuard,
	}
	for _, ch := range p.Changes {
		dc := DocChange{Kind: ch.Ref.Kind, Name: ch.Ref.Name, Action: ch.Action, Reason: ch.Reason, Diff: orEmpty(ch.Diff)}
		if ns != nil {
			if st := ns.Object(ch.Ref); st != nil {
				dc.Live = &DocLive{Phase: st.Phase, Revision: st.Revision, Message: st.Message, LastDrift: st.LastDrift}
			}
		}
		d.Changes = append(d.Changes, dc)
	}
	if r.Trust != nil {
		why := r.Trust[p.Node]
		d.Trust = &DocTrust{Accepted: why == "", Reason: why}
	}
	if ns != nil {
		d.Status = &DocStatus{
			AppliedRevision: ns.AppliedRevision,
			AtBase:          ns.AppliedRevision != "" && ns.AppliedRevision == r.Base.Hash,
			Refused:         ns.Refused, Source: ns.Source,
			Counts: ns.Counts(),
		}
	}
	return d
}

func orEmpty[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}
