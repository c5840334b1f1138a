package review

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// StatusText writes the recorded status of each node for a terminal: a
// header line per node (name, applied revision, object counts by phase),
// an indented line for a refused revision and for a source problem, then a
// table KIND NAME PHASE REVISION MESSAGE aligned with text/tabwriter,
// objects sorted by kind (registry order) then name. Nodes are written in
// the order given, separated by a blank line. Messages are folded on one
// line; a refusal lists at most reconciler.MaxListed diagnostics and counts
// the rest, those the status file already left out included.
func StatusText(w io.Writer, nodes []*reconciler.NodeStatus) error {
	for i, ns := range nodes {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := nodeText(w, ns); err != nil {
			return err
		}
	}
	return nil
}

func nodeText(w io.Writer, ns *reconciler.NodeStatus) error {
	applied := "no revision applied yet"
	if ns.AppliedRevision != "" {
		applied = "applied " + reconciler.ShortHash(ns.AppliedRevision)
	}
	follows := ns.Branch
	if ns.Path != "" && ns.Path != "." {
		follows += ":" + ns.Path
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  (branch %s)  %s\n", ns.Node, applied, cmp.Or(follows, "?"), countsText(ns))
	if rr := ns.Refused; rr != nil {
		fmt.Fprintf(&b, "  refused %s (%s) since %s: %s\n", reconciler.ShortHash(rr.Revision), rr.Reason, reconciler.HumanTime(rr.Since), oneLine(rr.Message))
		shown, omitted := reconciler.ListDiagnostics(rr.Diagnostics)
		for _, d := range shown {
			fmt.Fprintf(&b, "    %s\n", oneLine(d.String()))
		}
		if omitted += rr.DiagnosticsOmitted; omitted > 0 {
			fmt.Fprintf(&b, "    %s\n", reconciler.MoreText(omitted))
		}
	}
	if sp := ns.Source; sp != nil {
		fmt.Fprintf(&b, "  source problem (%s) since %s: %s\n", sp.Reason, reconciler.HumanTime(sp.Since), oneLine(sp.Message))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(ns.Objects) == 0 {
		_, err := io.WriteString(w, "  no objects\n")
		return err
	}
	objects := slices.Clone(ns.Objects)
	slices.SortStableFunc(objects, func(a, b reconciler.ObjectStatus) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tPHASE\tREVISION\tMESSAGE")
	for _, o := range objects {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(o.Kind), cell(o.Name), cell(string(o.Phase)), cmp.Or(reconciler.ShortHash(o.Revision), "-"), cmp.Or(cell(o.Message), "-"))
	}
	return tw.Flush()
}

// cell keeps a value on one line and out of the tabwriter's way.
func cell(s string) string { return oneLine(s) }

// kindRank orders kinds as the registry does, unknown kinds last.
func kindRank(kind string) int {
	if r := spec.KindRank(kind); r >= 0 {
		return r
	}
	return len(spec.Kinds())
}

// StatusDocument is the JSON form of `wirekeeper status`.
type StatusDocument struct {
	StatusBranch string                   `json:"statusBranch"`
	Nodes        []*reconciler.NodeStatus `json:"nodes"`
}

// StatusJSON writes the statuses of nodes as an indented StatusDocument.
// The drift logs are left out, as in the NodeStatus JSON form.
func StatusJSON(w io.Writer, branch string, nodes []*reconciler.NodeStatus) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(StatusDocument{StatusBranch: branch, Nodes: orEmpty(nodes)}); err != nil {
		return fmt.Errorf("review: cannot encode the status as JSON: %w", err)
	}
	return nil
}
