package status

// Placeholder of the fleet page until the renderer of branch fleet-page
// (fleet.go) lands: same signature and options, a plain list. Delete this
// file when fleet.go is merged.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// FleetOptions is what the fleet page knows beyond the nodes' statuses.
type FleetOptions struct {
	// Now is when the page is rendered.
	Now time.Time
	// Interval is the daemons' poll interval.
	Interval time.Duration
	// NewestRevision is the head of the spec branch the aggregator knows;
	// "" when it knows none.
	NewestRevision string
}

// RenderFleet renders README.md of the status branch from every node's
// status: deterministic, the same input gives the same bytes.
func RenderFleet(nodes map[string]*reconciler.NodeStatus, opts FleetOptions) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n# Fleet status\n\n%d nodes.\n\n", generatedNote, len(nodes))
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		fmt.Fprintf(&b, "- [%s](status/%s.md)\n", n, n)
	}
	return []byte(b.String())
}
