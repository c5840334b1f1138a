package status

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// DefaultSiteLabel is the label that names a node's site when
// FleetOptions.SiteLabel is empty (examples/managers.yaml: site: ams).
const DefaultSiteLabel = "site"

// SilentIntervals is how many poll intervals a node may go without
// reporting before the fleet views call it silent.
const SilentIntervals = 3

// FleetOptions are what RenderFleet needs besides the nodes' statuses. The
// zero value renders a page of phases only: no node silent, none behind, no
// sites; the page says which checks it could not make.
type FleetOptions struct {
	// Now is when the page is rendered. It decides which nodes are silent
	// and is never printed, so the page changes only when it crosses
	// NewestAt plus the silence threshold. Zero: silence is not checked.
	Now time.Time
	// Interval is the daemons' poll interval: a node is silent when it
	// has not answered NewestRevision SilentIntervals of them after
	// NewestAt. Zero, with SilentAfter zero: silence is not checked.
	Interval time.Duration
	// SilentAfter, when set, replaces SilentIntervals × Interval: for
	// daemons that confirm their status less often than every interval.
	SilentAfter time.Duration
	// NewestRevision is the head of the spec branch. Nodes following that
	// branch and enforcing another revision are listed as behind. "":
	// unknown, nothing is compared.
	NewestRevision string
	// NewestAt is when NewestRevision was committed. Zero: silence is not
	// checked.
	NewestAt time.Time
	// Branch is the spec branch NewestRevision heads; nodes following
	// another branch are not compared. "": every node is compared.
	Branch string
	// Spec is the spec set the sites are read from, best the one at
	// NewestRevision. nil: no site table and no list of nodes that never
	// reported.
	Spec *spec.Set
	// SiteLabel is the label naming a node's site; "" means
	// DefaultSiteLabel. A node's site is the label's value on the first
	// object placed on the node that carries it, objects in registry order
	// (OVSManager first) then by name.
	SiteLabel string
}

// silentAfter is the silence threshold, 0 when silence is not checked.
func (o FleetOptions) silentAfter() time.Duration {
	if o.SilentAfter > 0 {
		return o.SilentAfter
	}
	return SilentIntervals * o.Interval
}

// Check is the FleetCheck these options describe, shared with `wirekeeper
// status` so that both views pick the same problem nodes.
func (o FleetOptions) Check() reconciler.FleetCheck {
	return reconciler.FleetCheck{Now: o.Now, SilentAfter: o.silentAfter(), NewestRevision: o.NewestRevision, NewestAt: o.NewestAt, Branch: o.Branch}
}

// Bounds of the page: every list shows at most reconciler.MaxListed rows
// and counts the rest, so the page stays a few hundred lines at any fleet
// size.
const (
	// maxObjectsPerRow is how many non-Ready objects a node's row names.
	maxObjectsPerRow = 3
	// maxNameBytes clips a node name, object name or site shown on the page.
	maxNameBytes = 128
	// maxReasonBytes clips a reason code copied from a node's status.
	maxReasonBytes = 64
)

// fleetNode is one node as the page sees it.
type fleetNode struct {
	name           string
	ns             *reconciler.NodeStatus
	phase          reconciler.Phase
	silent, behind bool
	site           string
}

// RenderFleet writes the fleet page, README.md at the root of the status
// branch (forges show it under the file list), from the status of
// every node, keyed by node name (nil entries are skipped): node and object
// counts by phase with a Mermaid pie of the nodes' phases, then the nodes
// not Ready, the silent ones and those behind the newest revision, each
// linking to its status/<node>.md, then a table per site. A node's phase is
// its worst object's (reconciler.NodeStatus.NodePhase).
//
// The page is a pure function of its input, written in sorted order and
// without the current time, so the aggregator commits it only when the
// fleet's state changes: advancing Now changes it only when a node crosses
// the silence threshold. Every list is bounded (reconciler.MaxListed rows,
// then a count of the rest) and every name escaped and clipped.
func RenderFleet(nodes map[string]*reconciler.NodeStatus, opts FleetOptions) []byte {
	check := opts.Check()
	sites := nodeSites(opts.Spec, cmp.Or(opts.SiteLabel, DefaultSiteLabel))
	var fleet []fleetNode
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		ns := nodes[name]
		if ns == nil {
			continue
		}
		fleet = append(fleet, fleetNode{
			name: name, ns: ns, phase: ns.NodePhase(),
			silent: check.Silent(ns), behind: check.Behind(ns), site: sites[name],
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n", generatedNote)
	b.WriteString("# Fleet status\n\n")
	if len(fleet) == 0 {
		b.WriteString("No node has reported yet.\n")
		writeNeverReported(&b, opts.Spec, nodes)
		return []byte(b.String())
	}
	writeFleetSummary(&b, fleet, check, opts)
	writeFleetPie(&b, fleet)
	writeFleetCounts(&b, fleet)
	writeNotReady(&b, fleet)
	writeSilent(&b, fleet, check, opts.Spec, nodes)
	writeBehind(&b, fleet, check)
	writeSites(&b, fleet, opts)
	return []byte(b.String())
}

func writeFleetSummary(b *strings.Builder, fleet []fleetNode, check reconciler.FleetCheck, opts FleetOptions) {
	counts := map[reconciler.Phase]int{}
	var silent, behind, compared int
	for _, n := range fleet {
		counts[n.phase]++
		if n.silent {
			silent++
		}
		if n.behind {
			behind++
		}
		if check.Compared(n.ns) {
			compared++
		}
	}
	fmt.Fprintf(b, "**%d %s**: %s. A node takes the phase of its worst object.\n\n", len(fleet), plural(len(fleet), "node", "nodes"), phaseList(counts))
	if check.NewestRevision == "" {
		b.WriteString("- The newest spec revision is not known: no node is compared with it.\n")
	} else {
		fmt.Fprintf(b, "- Newest spec revision `%s`%s: %d of %d %s it",
			codeText(reconciler.ShortHash(check.NewestRevision)), branchText(check.Branch), compared-behind, compared, plural(compared, "node enforces", "nodes enforce"))
		if other := len(fleet) - compared; other > 0 {
			fmt.Fprintf(b, "; %d %s another branch", other, plural(other, "node follows", "nodes follow"))
		}
		b.WriteString(".\n")
	}
	if why := silenceUnchecked(check); why != "" {
		b.WriteString("- Silence is not checked: " + why + ".\n")
	} else {
		fmt.Fprintf(b, "- %d silent: no answer to the newest revision within %s of its commit", silent, check.SilentAfter)
		if opts.SilentAfter <= 0 {
			fmt.Fprintf(b, " (%d poll intervals of %s)", SilentIntervals, opts.Interval)
		}
		b.WriteString(".\n")
	}
	b.WriteString("- Every node's own page is `status/NODE.md`: [browse them](status/).\n\n")
}

// silenceUnchecked says why check cannot tell silent nodes, "" when it can.
func silenceUnchecked(check reconciler.FleetCheck) string {
	switch {
	case check.SilentAfter <= 0 || check.Now.IsZero():
		return "the poll interval is not known"
	case check.NewestRevision == "" || check.NewestAt.IsZero():
		return "the newest spec revision and its commit time are not known"
	}
	return ""
}

func branchText(branch string) string {
	if branch == "" {
		return ""
	}
	return fmt.Sprintf(" of branch `%s`", codeText(reconciler.Clip(branch, maxNameBytes)))
}

// phaseList is "950 Ready, 30 Drifted, 2 Failed": the non-zero counts in
// severity order.
func phaseList(counts map[reconciler.Phase]int) string {
	var parts []string
	for _, p := range fleetPhases() {
		if counts[p] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[p], p))
		}
	}
	return strings.Join(parts, ", ")
}

// fleetPhases lists the phases most severe first, as the fleet views do.
func fleetPhases() []reconciler.Phase {
	out := slices.Clone(phases)
	slices.SortStableFunc(out, func(a, b reconciler.Phase) int {
		return cmp.Compare(reconciler.PhaseSeverity(a), reconciler.PhaseSeverity(b))
	})
	return out
}

// writeFleetPie draws the nodes' phases as a Mermaid pie. Its labels are
// the six phase names, escaped all the same, and its values the non-zero
// counts, so its size does not grow with the fleet.
func writeFleetPie(b *strings.Builder, fleet []fleetNode) {
	counts := map[reconciler.Phase]int{}
	for _, n := range fleet {
		counts[n.phase]++
	}
	b.WriteString("```mermaid\npie showData title Nodes by phase\n")
	for _, p := range fleetPhases() {
		if counts[p] > 0 {
			fmt.Fprintf(b, "    \"%s\" : %d\n", mermaidLabel(string(p)), counts[p])
		}
	}
	b.WriteString("```\n\n")
}

func writeFleetCounts(b *strings.Builder, fleet []fleetNode) {
	nodeCounts := map[reconciler.Phase]int{}
	objectCounts := map[reconciler.Phase]int{}
	var objects, other int
	for _, n := range fleet {
		nodeCounts[n.phase]++
		for _, o := range n.ns.Objects {
			objects++
			if slices.Contains(phases, o.Phase) {
				objectCounts[o.Phase]++
			} else {
				other++
			}
		}
	}
	b.WriteString("## Counts\n\n| Phase | Nodes | Objects |\n|---|--:|--:|\n")
	for _, p := range fleetPhases() {
		fmt.Fprintf(b, "| %s | %d | %d |\n", p, nodeCounts[p], objectCounts[p])
	}
	if other > 0 {
		fmt.Fprintf(b, "| other (unknown phase) | — | %d |\n", other)
	}
	fmt.Fprintf(b, "| **Total** | **%d** | **%d** |\n\n", len(fleet), objects)
}

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

// siteRow counts one site's nodes.
type siteRow struct {
	site                                   string
	nodes, ready, notReady, silent, behind int
}

func writeSites(b *strings.Builder, fleet []fleetNode, opts FleetOptions) {
	if opts.Spec == nil {
		return
	}
	label := cmp.Or(opts.SiteLabel, DefaultSiteLabel)
	rows := map[string]*siteRow{}
	for _, n := range fleet {
		r := rows[n.site]
		if r == nil {
			r = &siteRow{site: n.site}
			rows[n.site] = r
		}
		r.nodes++
		if n.phase == reconciler.PhaseReady {
			r.ready++
		} else {
			r.notReady++
		}
		if n.silent {
			r.silent++
		}
		if n.behind {
			r.behind++
		}
	}
	// Named sites by name, then the nodes without one.
	list := slices.SortedFunc(maps.Values(rows), func(x, y *siteRow) int {
		return cmp.Or(cmp.Compare(unlabelled(x.site), unlabelled(y.site)), cmp.Compare(x.site, y.site))
	})
	fmt.Fprintf(b, "## Sites\n\nNodes by the `%s` label of their objects.\n\n| Site | Nodes | Ready | Not Ready | Silent | Behind |\n|---|--:|--:|--:|--:|--:|\n",
		codeText(reconciler.Clip(label, maxNameBytes)))
	shown, omitted := reconciler.Listed(list)
	for _, r := range shown {
		site := "(no label)"
		if r.site != "" {
			site = pageName(r.site)
		}
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d |\n", site, r.nodes, r.ready, r.notReady, r.silent, r.behind)
	}
	if omitted > 0 {
		var nodes int
		for _, r := range list[len(shown):] {
			nodes += r.nodes
		}
		fmt.Fprintf(b, "\n%s %s (%d nodes).\n", reconciler.MoreText(omitted), plural(omitted, "site", "sites"), nodes)
	}
	b.WriteString("\n")
}

// unlabelled sorts the nodes without a site after the named sites.
func unlabelled(site string) int {
	if site == "" {
		return 1
	}
	return 0
}

// nodeSites maps each node the spec places objects on to its site: the
// value of label on the first object of the node carrying it, objects in
// registry order then by name. Objects placed on every node do not count.
func nodeSites(set *spec.Set, label string) map[string]string {
	out := map[string]string{}
	if set == nil {
		return out
	}
	objs := slices.Clone(set.Objects)
	slices.SortStableFunc(objs, func(a, b *spec.Object) int {
		return compareRefs(a.Kind, a.Metadata.Name, b.Kind, b.Metadata.Name)
	})
	for _, o := range objs {
		site, ok := o.Metadata.Labels[label]
		if !ok || site == "" {
			continue
		}
		if node := set.NodeOf(o); node != "" {
			if _, seen := out[node]; !seen {
				out[node] = site
			}
		}
	}
	return out
}

func writeMore(b *strings.Builder, omitted int) {
	if omitted > 0 {
		fmt.Fprintf(b, "\n%s: `wirekeeper status --output json` lists every node.\n", reconciler.MoreText(omitted))
	}
	b.WriteString("\n")
}

// nodeLink links a node to its status page. A name that is not a valid
// node name (so has no status page) is shown, escaped, without a link.
func nodeLink(name string) string {
	if checkNode(name) != nil {
		return pageName(name)
	}
	return fmt.Sprintf("[%s](%s)", pageName(name), markdownPath(name))
}

// pageName clips and escapes a name for the page (see pageText).
func pageName(s string) string { return pageText(reconciler.Clip(s, maxNameBytes)) }

// pageText makes s inert inline Markdown, in a table cell or a link's
// text: the punctuation that could open emphasis, code, a link, HTML, an
// entity, math or strike-through, or end a cell, is backslash-escaped, and
// control characters and line separators become spaces.
func pageText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]<>&|~$!", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
