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
