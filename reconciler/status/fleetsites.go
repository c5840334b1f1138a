package status

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// siteRow counts one site's nodes.
type siteRow struct {
	site                                   string
	nodes, ready, notReady, silent, behind int
}

// writeSites counts each site's nodes by phase, silence and revision,
// named sites first; without a spec there are no sites to show.
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
