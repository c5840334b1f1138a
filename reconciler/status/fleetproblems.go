package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// writeNotReady lists the nodes whose phase is not Ready, most severe
// first, naming their worst objects.
func writeNotReady(b *strings.Builder, fleet []fleetNode) {
	var list []fleetNode
	for _, n := range fleet {
		if n.phase != reconciler.PhaseReady {
			list = append(list, n)
		}
	}
	b.WriteString("## Nodes not Ready\n\n")
	if len(list) == 0 {
		b.WriteString("None: every object of every node is Ready.\n\n")
		return
	}
	// Most severe first; fleet is sorted by name and the sort is stable.
	slices.SortStableFunc(list, func(x, y fleetNode) int {
		return cmp.Compare(reconciler.PhaseSeverity(x.phase), reconciler.PhaseSeverity(y.phase))
	})
	fmt.Fprintf(b, "%d %s, most severe first.\n\n| Node | Phase | Objects not Ready |\n|---|---|---|\n", len(list), plural(len(list), "node", "nodes"))
	shown, omitted := reconciler.Listed(list)
	for _, n := range shown {
		fmt.Fprintf(b, "| %s | %s | %s |\n", nodeLink(n.name), pageText(string(n.phase)), notReadyObjects(n.ns))
	}
	writeMore(b, omitted)
}

// notReadyObjects names the first few objects of ns that are not Ready,
// most severe first: "Mirror/tap: Failed, Bridge/br: Drifted, … and 4 more".
func notReadyObjects(ns *reconciler.NodeStatus) string {
	var objs []reconciler.ObjectStatus
	for _, o := range ns.Objects {
		if o.Phase != reconciler.PhaseReady {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		return "— (no objects)"
	}
	slices.SortStableFunc(objs, func(x, y reconciler.ObjectStatus) int {
		return cmp.Or(cmp.Compare(reconciler.PhaseSeverity(x.Phase), reconciler.PhaseSeverity(y.Phase)),
			compareRefs(x.Kind, x.Name, y.Kind, y.Name))
	})
	var parts []string
	for _, o := range objs[:min(len(objs), maxObjectsPerRow)] {
		parts = append(parts, fmt.Sprintf("%s/%s: %s", pageName(o.Kind), pageName(o.Name), pageName(cmp.Or(string(o.Phase), "unknown"))))
	}
	if len(objs) > maxObjectsPerRow {
		parts = append(parts, reconciler.MoreText(len(objs)-maxObjectsPerRow))
	}
	return strings.Join(parts, ", ")
}

// writeSilent lists the silent nodes, longest silent first, then the
// nodes the spec names that never reported.
func writeSilent(b *strings.Builder, fleet []fleetNode, check reconciler.FleetCheck, set *spec.Set, nodes map[string]*reconciler.NodeStatus) {
	b.WriteString("## Silent nodes\n\n")
	switch {
	case silenceUnchecked(check) != "":
		b.WriteString("Not checked: " + silenceUnchecked(check) + ".\n\n")
	default:
		var list []fleetNode
		for _, n := range fleet {
			if n.silent {
				list = append(list, n)
			}
		}
		if len(list) == 0 {
			fmt.Fprintf(b, "None: every node following the branch answered the newest revision within %s of its commit (applied it, refused it or reported since).\n\n", check.SilentAfter)
			break
		}
		// Longest silent first; ties stay in name order.
		slices.SortStableFunc(list, func(x, y fleetNode) int { return x.ns.Reported.Compare(y.ns.Reported) })
		fmt.Fprintf(b, "%d %s without an answer to the newest revision within %s of its commit, longest silent first.\n\n| Node | Last report | Phase then |\n|---|---|---|\n",
			len(list), plural(len(list), "node", "nodes"), check.SilentAfter)
		shown, omitted := reconciler.Listed(list)
		for _, n := range shown {
			fmt.Fprintf(b, "| %s | %s | %s |\n", nodeLink(n.name), reconciler.HumanTime(n.ns.Reported), pageText(string(n.phase)))
		}
		writeMore(b, omitted)
	}
	writeNeverReported(b, set, nodes)
}

// writeNeverReported lists the nodes the spec places objects on that have
// no status at all: their daemon never pushed one.
func writeNeverReported(b *strings.Builder, set *spec.Set, nodes map[string]*reconciler.NodeStatus) {
	if set == nil {
		return
	}
	var never []string
	for _, n := range set.Nodes() {
		if nodes[n] == nil {
			never = append(never, n)
		}
	}
	if len(never) == 0 {
		return
	}
	shown, omitted := reconciler.Listed(never)
	names := make([]string, len(shown))
	for i, n := range shown {
		names[i] = pageName(n)
	}
	if omitted > 0 {
		names = append(names, reconciler.MoreText(omitted))
	}
	fmt.Fprintf(b, "Named in the spec but never reported (%d): %s.\n\n", len(never), strings.Join(names, ", "))
}

// writeBehind lists the nodes following the branch that enforce another
// revision than its head, and why.
func writeBehind(b *strings.Builder, fleet []fleetNode, check reconciler.FleetCheck) {
	if check.NewestRevision == "" {
		b.WriteString("## Nodes behind the newest revision\n\nNot checked: the newest spec revision is not known.\n\n")
		return
	}
	fmt.Fprintf(b, "## Nodes behind the newest revision `%s`\n\n", codeText(reconciler.ShortHash(check.NewestRevision)))
	var list []fleetNode
	for _, n := range fleet {
		if n.behind {
			list = append(list, n)
		}
	}
	if len(list) == 0 {
		b.WriteString("None: every node following the branch enforces it.\n\n")
		return
	}
	fmt.Fprintf(b, "%d %s.\n\n| Node | Enforces | Why |\n|---|---|---|\n", len(list), plural(len(list), "node", "nodes"))
	shown, omitted := reconciler.Listed(list)
	for _, n := range shown {
		applied := "—"
		if n.ns.AppliedRevision != "" {
			applied = "`" + codeText(reconciler.ShortHash(n.ns.AppliedRevision)) + "`"
		}
		why := cmp.Or(check.BehindReason(n.ns), "not applied yet")
		fmt.Fprintf(b, "| %s | %s | %s |\n", nodeLink(n.name), applied, pageName(reconciler.Clip(why, maxReasonBytes+32)))
	}
	writeMore(b, omitted)
}

// writeMore ends a bounded list, counting the rows it left off.
func writeMore(b *strings.Builder, omitted int) {
	if omitted > 0 {
		fmt.Fprintf(b, "\n%s: `wirekeeper status --output json` lists every node.\n", reconciler.MoreText(omitted))
	}
	b.WriteString("\n")
}
