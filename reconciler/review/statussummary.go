package review

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// SummaryMaxNodes is how many problem nodes StatusSummary lists: with its
// header lines the summary stays under 50 lines, a terminal's height, at
// any fleet size.
const SummaryMaxNodes = 40

// summaryObjects is how many non-Ready objects a problem node's line names.
const summaryObjects = 2

// maxProblemText bounds the PROBLEMS column of one line.
const maxProblemText = 160

// StatusSummary writes the fleet for a terminal: the nodes by phase (a
// node takes its worst object's phase), the objects by phase, how many
// nodes enforce the newest revision and how many are silent, as check
// judges them, then only the problem nodes (not Ready, silent or behind),
// most severe first, at most SummaryMaxNodes of them and a line counting
// the rest. The same rules pick the problem nodes of the fleet page on
// the status branch. Nodes may come in any order.
func StatusSummary(w io.Writer, nodes []*reconciler.NodeStatus, check reconciler.FleetCheck) error {
	nodeCounts := map[reconciler.Phase]int{}
	objectCounts := map[reconciler.Phase]int{}
	var objects, silent, behind, compared int
	var problems []*reconciler.NodeStatus
	for _, ns := range nodes {
		nodeCounts[ns.NodePhase()]++
		for _, o := range ns.Objects {
			objectCounts[o.Phase]++
			objects++
		}
		if check.Silent(ns) {
			silent++
		}
		if check.Behind(ns) {
			behind++
		}
		if check.Compared(ns) {
			compared++
		}
		if check.Problem(ns) {
			problems = append(problems, ns)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %s\n", len(nodes), "node"+plural(len(nodes)), phaseCounts(nodeCounts))
	fmt.Fprintf(&b, "%d %s: %s\n", objects, "object"+plural(objects), phaseCounts(objectCounts))
	if check.NewestRevision == "" {
		b.WriteString("newest revision: unknown, nodes not compared with it\n")
	} else {
		fmt.Fprintf(&b, "newest revision %s", reconciler.ShortHash(check.NewestRevision))
		if check.Branch != "" {
			fmt.Fprintf(&b, " (branch %s)", oneLine(check.Branch))
		}
		fmt.Fprintf(&b, ": %d of %d %s, %d behind", compared-behind, compared, "node"+plural(compared)+" on it", behind)
		if other := len(nodes) - compared; other > 0 {
			fmt.Fprintf(&b, ", %d on another branch", other)
		}
		b.WriteString("\n")
	}
	if check.SilentFrom().IsZero() || check.Now.IsZero() {
		b.WriteString("silent: not checked\n")
	} else {
		fmt.Fprintf(&b, "silent: %d %s no answer to the newest revision within %s of its commit\n", silent, "node"+plural(silent)+" with", check.SilentAfter)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(problems) == 0 {
		_, err := io.WriteString(w, "\nno problem nodes\n")
		return err
	}

	slices.SortStableFunc(problems, func(x, y *reconciler.NodeStatus) int {
		return cmp.Or(
			cmp.Compare(reconciler.PhaseSeverity(x.NodePhase()), reconciler.PhaseSeverity(y.NodePhase())),
			cmp.Compare(rank(!check.Silent(x)), rank(!check.Silent(y))),
			cmp.Compare(rank(!check.Behind(x)), rank(!check.Behind(y))),
			cmp.Compare(x.Node, y.Node),
		)
	})
	shown := problems[:min(len(problems), SummaryMaxNodes)]
	if len(shown) < len(problems) {
		fmt.Fprintf(w, "\n%d problem nodes, most severe first (%d shown):\n", len(problems), len(shown))
	} else {
		fmt.Fprintf(w, "\n%d problem %s, most severe first:\n", len(problems), "node"+plural(len(problems)))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPHASE\tAPPLIED\tLAST REPORT\tPROBLEMS")
	for _, ns := range shown {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(ns.Node), ns.NodePhase(), cmp.Or(reconciler.ShortHash(ns.AppliedRevision), "-"),
			reconciler.HumanTime(ns.Reported), nodeProblems(ns, check))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rest := len(problems) - len(shown); rest > 0 {
		_, err := fmt.Fprintf(w, "%s: --node NAME shows one node, --output json every node\n", reconciler.MoreText(rest))
		return err
	}
	return nil
}

// nodeProblems is the PROBLEMS column: "not ready: Mirror/tap Failed,
// Bridge/br Drifted, … and 3 more; silent; behind: refused (Invalid)".
func nodeProblems(ns *reconciler.NodeStatus, check reconciler.FleetCheck) string {
	var parts []string
	var objs []reconciler.ObjectStatus
	for _, o := range ns.Objects {
		if o.Phase != reconciler.PhaseReady {
			objs = append(objs, o)
		}
	}
	if len(objs) > 0 {
		slices.SortStableFunc(objs, func(x, y reconciler.ObjectStatus) int {
			return cmp.Or(cmp.Compare(reconciler.PhaseSeverity(x.Phase), reconciler.PhaseSeverity(y.Phase)),
				cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Name, y.Name))
		})
		var names []string
		for _, o := range objs[:min(len(objs), summaryObjects)] {
			names = append(names, fmt.Sprintf("%s/%s %s", o.Kind, o.Name, cmp.Or(string(o.Phase), "unknown")))
		}
		if len(objs) > summaryObjects {
			names = append(names, reconciler.MoreText(len(objs)-summaryObjects))
		}
		parts = append(parts, "not ready: "+strings.Join(names, ", "))
	} else if ns.NodePhase() != reconciler.PhaseReady {
		parts = append(parts, "no objects yet")
	}
	// A silent node is behind as well; "silent" says why.
	if check.Silent(ns) {
		parts = append(parts, "silent")
	} else if check.Behind(ns) {
		if why := check.BehindReason(ns); why != "" {
			parts = append(parts, "behind: "+why)
		} else {
			parts = append(parts, "behind")
		}
	}
	return reconciler.Clip(cell(strings.Join(parts, "; ")), maxProblemText)
}

// phaseCounts is "20 failed, 140 drifted, 840 ready": the non-zero counts
// most severe first, phases this build does not know last; "none" if all
// are zero.
func phaseCounts(counts map[reconciler.Phase]int) string {
	known := []reconciler.Phase{reconciler.PhaseFailed, reconciler.PhaseDegraded, reconciler.PhaseDrifted, reconciler.PhasePending, reconciler.PhaseSuspended, reconciler.PhaseReady}
	var parts []string
	for _, p := range known {
		if counts[p] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[p], strings.ToLower(string(p))))
		}
	}
	var other int
	for p, n := range counts {
		if !slices.Contains(known, p) {
			other += n
		}
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d in an unknown phase", other))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func rank(b bool) int {
	if b {
		return 1
	}
	return 0
}
